"""The sale value beside the payout, over real HTTP: each seed's own postback URL shape keeps
every parameter it names (in a field or in params), and the sale value is converted, stored,
shown, reported, exported and forwarded like the payout."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from postback.conversions.fx import rates
from postback.deliveries.worker import DeliveryWorker
from postback.kit.db import normalize_url
from postback.kit.money import to_micros
from postback.models import Conversion, ConversionStatusChange, PostbackLogEntry
from postback.reports.aggregator import Aggregator
from postback.templates import registry
from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup
from tests.receiver import Receiver, running_receiver
from tests.signin import make_user, signed_in_client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def only_conversion(live: LiveServer) -> Conversion:
    with live.runtime.db.session() as s:
        [conv] = s.scalars(select(Conversion)).all()
        return conv


def fire(http: httpx.Client, setup: Setup, query: str) -> httpx.Response:
    """A GET postback with `query` exactly as the sender writes it, plus the network's token."""
    return http.get(f"/postback/{setup.network_key}?{query}&token={setup.token}")


def kept(conv: Conversion) -> dict[str, str]:
    """Every parameter the conversion kept, by the name it was sent under."""
    return dict(conv.params)


def deliver_now(live: LiveServer) -> int:
    w = DeliveryWorker(live.settings, live.runtime.db, name="test-worker")

    async def once() -> int:
        try:
            return await w.run_once(datetime.now(UTC))
        finally:
            await w.client.aclose()

    return asyncio.run(once())


def fold(live: LiveServer) -> None:
    engine = create_engine(normalize_url(live.settings.database_url))
    try:
        Aggregator(engine).catch_up(datetime.now(UTC) + timedelta(seconds=1))
    finally:
        engine.dispose()


# --- seed 001, the beginner's guide ---------------------------------------------------------


def test_guide_most_common_format_keeps_amount_and_payout_apart(
    live: LiveServer, http: httpx.Client
) -> None:
    """`?click_id={CLICK_ID}&amount={REVENUE}&payout={PAYOUT}`: amount is the sale value, payout
    the commission owed; both numbers are kept."""
    setup = make_setup(live)
    cid = click(http, setup)
    resp = fire(http, setup, f"click_id={cid}&amount=10.00&payout=2.50")
    assert resp.status_code == 200, resp.text
    conv = only_conversion(live)
    assert (conv.amount_micros, conv.payout_micros, conv.revenue_micros) == (
        10_000_000,
        2_500_000,
        2_500_000,
    )
    assert (conv.original_sale_amount, conv.original_amount) == ("10", "2.5")
    assert kept(conv) == {}


def test_guide_curl_test_with_amount_alone_makes_it_the_payout_too(
    live: LiveServer, http: httpx.Client
) -> None:
    """`curl ".../postback?click_id=test123&amount=10.00"`: no payout sent, so the sale value
    is also the payout (PRODUCT 3.2)."""
    setup = make_setup(live, offer={"payout_micros": 1_000_000})
    cid = click(http, setup)
    assert fire(http, setup, f"click_id={cid}&amount=10.00").status_code == 200
    conv = only_conversion(live)
    assert (conv.amount_micros, conv.payout_micros, conv.revenue_micros) == (10_000_000,) * 3


def test_guide_every_named_parameter_lands_in_a_field_or_params(
    live: LiveServer, http: httpx.Client
) -> None:
    """The guide's key parameters and their alternatives: click_id (or transaction_id /
    sub_id), amount (or revenue), payout (or commission), status, custom parameters (currency,
    coupon code, country). None is dropped, even where two name the same field."""
    setup = make_setup(live)
    cid = click(http, setup)
    query = (
        f"click_id={cid}&sub_id=SUB-9&transaction_id=T-1&amount=50&revenue=5&payout=4"
        "&commission=1&status=approved&currency=USD&coupon=SPRING&country=DE"
    )
    assert fire(http, setup, query).status_code == 200
    conv = only_conversion(live)
    assert (conv.amount_micros, conv.payout_micros, conv.commission_micros) == (
        50_000_000,
        4_000_000,
        1_000_000,
    )
    # revenue and sub_id lost to payout and click_id, sent under their exact names: kept.
    assert kept(conv) == {
        "sub_id": "SUB-9",
        "transaction_id": "T-1",
        "revenue": "5",
        "coupon": "SPRING",
        "country": "DE",
    }


# --- seed 003, ClickMeter ----------------------------------------------------------------


def clickmeter_setup(live: LiveServer) -> Setup:
    side = registry.all_templates()["clickmeter"].network
    assert side is not None
    return make_setup(live, network={"template": "clickmeter", "aliases": dict(side.aliases)})


def test_clickmeter_val_com_comperc_param_all_kept(live: LiveServer, http: httpx.Client) -> None:
    """ClickMeter's postback: clickId, id, val (value), com (commission, 0 here), comperc
    (commission in % of val) and param (free text, `;`-separated)."""
    setup = clickmeter_setup(live)
    cid = click(http, setup)
    query = f"clickId={cid}&id=CM-77&val=20&com=0&comperc=10&param=plan%3Dgold%3Bref%3D3"
    assert fire(http, setup, query).status_code == 200
    conv = only_conversion(live)
    assert (conv.amount_micros, conv.payout_micros, conv.commission_micros) == (
        20_000_000,
        20_000_000,
        2_000_000,
    )
    assert kept(conv) == {"id": "CM-77", "param": "plan=gold;ref=3"}


def test_comperc_is_a_percent_of_the_sale_value_not_the_payout(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    assert fire(http, setup, f"clickid={cid}&amount=200&payout=30&comperc=5").status_code == 200
    conv = only_conversion(live)
    assert (conv.commission_micros, conv.payout_micros, conv.revenue_micros) == (
        10_000_000,
        30_000_000,
        30_000_000,
    )


def test_clickmeter_com_wins_over_comperc(live: LiveServer, http: httpx.Client) -> None:
    setup = clickmeter_setup(live)
    cid = click(http, setup)
    assert fire(http, setup, f"clickId={cid}&id=1&val=20&com=3&comperc=10").status_code == 200
    assert only_conversion(live).commission_micros == 3_000_000


# --- the same parser, limits and FX as the payout ------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "invalid_payout"),
        ("-5", "invalid_payout"),
        ("1e999", "invalid_payout"),
        ("1" * 41, "invalid_payout"),
        ("10000001", "invalid_payout"),  # above the per-conversion maximum
        ("{REVENUE}", "placeholder_value"),
        ("NaN", "invalid_payout"),
        ("5\x00", "invalid_payout"),
    ],
)
def test_a_bad_sale_value_is_refused_and_changes_nothing(
    live: LiveServer, http: httpx.Client, value: str, reason: str
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    resp = http.get(
        f"/postback/{setup.network_key}",
        params=setup.with_token({"clickid": cid, "payout": "1", "amount": value}),
    )
    assert resp.status_code == 400, resp.text
    assert reason in resp.text
    with live.runtime.db.session() as s:
        assert s.scalars(select(Conversion)).all() == []
        [entry] = s.scalars(select(PostbackLogEntry)).all()
    assert entry.reason == reason


def test_the_sale_value_is_converted_at_the_payouts_rate(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    resp = fire(http, setup, f"clickid={cid}&amount=80&payout=8&currency=EUR")
    assert resp.status_code == 200, resp.text
    conv = only_conversion(live)
    rate = rates.rate("EUR", "USD", conv.created_at.date())
    assert conv.amount_micros == to_micros(Decimal(80) * rate.value)
    assert conv.payout_micros == to_micros(Decimal(8) * rate.value)
    assert (conv.original_sale_amount, conv.original_currency, conv.fx_rate) == (
        "80",
        "EUR",
        str(rate.value),
    )


@pytest.mark.parametrize(
    ("mode", "want"), [("update", 120_000_000), ("accumulate", 220_000_000), ("ignore", None)]
)
def test_a_repeat_changes_the_sale_value_under_the_duplicate_mode(
    live: LiveServer, http: httpx.Client, mode: str, want: int | None
) -> None:
    setup = make_setup(live, network={"duplicate_mode": mode})
    cid = click(http, setup)
    assert fire(http, setup, f"clickid={cid}&amount=100&payout=10").status_code == 200
    resp = fire(http, setup, f"clickid={cid}&amount=120&payout=10")
    assert resp.status_code == 200, resp.text
    conv = only_conversion(live)
    assert conv.amount_micros == (want or 100_000_000)
    with live.runtime.db.session() as s:
        deltas = s.scalars(select(ConversionStatusChange.amount_delta_micros)).all()
    assert sum(deltas) == conv.amount_micros  # approved: the whole sale value is recognised


# --- shown, reported, exported, forwarded ----------------------------------------------------


def test_api_report_csv_and_outbound_macro_carry_the_sale_value(
    live: LiveServer, http: httpx.Client, api: httpx.Client, receiver: Receiver
) -> None:
    url = f"{receiver.url}/pb?ext={{external_id}}&sale={{amount}}&p={{payout}}"
    setup = make_setup(live, source={"postback_url": url})
    first, second, third = (click(http, setup, subid=f"E{i}") for i in range(3))
    assert fire(http, setup, f"clickid={first}&amount=10.5&payout=1").status_code == 200
    assert fire(http, setup, f"clickid={second}&amount=4&payout=2").status_code == 200
    assert fire(http, setup, f"clickid={third}&payout=3&status=pending").status_code == 200

    items = api.get("/api/v1/conversions").json()["items"]
    by_payout = sorted((i["payout"], i["amount"], i["original_sale_amount"]) for i in items)
    assert by_payout == [("1", "10.5", "10.5"), ("2", "4", "4"), ("3", None, None)]

    assert deliver_now(live) == 2
    assert sorted(h.query for h in receiver.hits) == ["ext=E0&sale=10.5&p=1", "ext=E1&sale=4&p=2"]

    today = datetime.now(UTC).date()
    params = {
        "group_by": "campaign",
        "tz": "UTC",
        "from": (today - timedelta(days=1)).isoformat(),
        "to": today.isoformat(),
    }
    want = {"sale_amount": "14.5", "revenue": "3"}

    def report() -> dict[str, Any]:
        [row] = api.get("/api/v1/reports", params=params).json()["rows"]
        return {k: row[k] for k in want}

    assert report() == want  # from the raw rows
    fold(live)
    assert report() == want  # from the rollups
    resp = api.get("/api/v1/reports/export", params={**params, "format": "csv"})
    assert resp.status_code == 200, resp.text
    [row] = list(csv.DictReader(io.StringIO(resp.text)))
    assert row["sale_amount"] == "14.5"


def test_manual_create_and_status_change_take_a_sale_value(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    resp = api.post("/api/v1/conversions", json={"clickid": cid, "amount": "99.9", "comperc": 10})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["amount"], body["payout"], body["commission"]) == ("99.9", "99.9", "9.99")
    resp = api.patch(
        f"/api/v1/conversions/{body['id']}", json={"status": "approved", "amount": "120"}
    )
    assert resp.status_code == 200, resp.text
    after = resp.json()
    assert (after["amount"], after["payout"], after["result"]) == ("120", "99.9", "updated")
    assert [h["amount_delta"] for h in after["history"]] == ["99.9", "20.1"]
    resp = api.patch(f"/api/v1/conversions/{body['id']}", json={"status": "refunded"})
    assert resp.json()["history"][-1]["amount_delta"] == "-120"
    bad = api.patch(f"/api/v1/conversions/{body['id']}", json={"status": "approved", "amount": -1})
    assert bad.status_code == 422


def test_the_dashboard_shows_the_sale_value(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    assert fire(http, setup, f"clickid={cid}&amount=77.25&payout=7").status_code == 200
    conv = only_conversion(live)
    with signed_in_client(live, make_user(live, "viewer")) as client:
        page = client.get(f"/conversions/{conv.id}").text
        listing = client.get("/conversions").text
    assert '<dd data-field="amount">77.25 USD</dd>' in page
    assert "(sale amount 77.25)" in page
    assert '<td class="num" data-field="amount">77.25</td>' in listing
