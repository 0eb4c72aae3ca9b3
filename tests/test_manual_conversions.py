"""POST /api/v1/conversions: a conversion recorded by hand goes through the rules of a postback
(click, lookback window, duplicate mode, currency, commission, cost, ledger, outbox)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from postback.conversions.fx import rates
from postback.deliveries.worker import DeliveryWorker
from postback.kit.money import format_micros, to_micros
from postback.models import Click, Conversion, ConversionStatusChange, Delivery
from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup
from tests.receiver import Receiver, running_receiver

NOT_A_CLICK = "01JB0000000000000000000000"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


@pytest.fixture
def office(api: httpx.Client, live: LiveServer) -> Iterator[tuple[httpx.Client, int]]:
    """A client with an API key of its own, and that key's id."""
    created = api.post("/api/v1/api-keys", json={"name": "back office"}).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    with httpx.Client(base_url=live.url, headers=headers, timeout=10) as client:
        yield client, created["id"]


def deliver_now(live: LiveServer) -> int:
    """Run one pass of a delivery worker; returns how many deliveries it sent."""
    w = DeliveryWorker(live.settings, live.runtime.db, name="test-worker")

    async def once() -> int:
        try:
            return await w.run_once(datetime.now(UTC))
        finally:
            await w.client.aclose()

    return asyncio.run(once())


def deliveries(live: LiveServer) -> list[tuple[str, str]]:
    with live.runtime.db.session() as s:
        rows = s.execute(select(Delivery.conversion_id, Delivery.status).order_by(Delivery.id))
        return [(r[0], r[1]) for r in rows]


def conversions(live: LiveServer) -> list[tuple[str | None, str, int, int]]:
    """(txid, status, payout, revenue) of every conversion, after checking the ledger sums."""
    with live.runtime.db.session() as s:
        ledger = s.execute(
            select(
                ConversionStatusChange.conversion_id,
                func.sum(ConversionStatusChange.payout_delta_micros),
                func.sum(ConversionStatusChange.revenue_delta_micros),
            ).group_by(ConversionStatusChange.conversion_id)
        ).all()
        rows = s.execute(
            select(
                Conversion.id,
                Conversion.txid,
                Conversion.status,
                Conversion.payout_micros,
                Conversion.revenue_micros,
            ).order_by(Conversion.id)
        ).all()
    assert {r[0]: (int(r[1]), int(r[2])) for r in ledger} == {r[0]: (r[3], r[4]) for r in rows}
    return [(r[1], r[2], r[3], r[4]) for r in rows]


def test_a_manual_conversion_is_recorded_converted_and_posted_back(
    live: LiveServer, http: httpx.Client, receiver: Receiver, office: tuple[httpx.Client, int]
) -> None:
    client, key_id = office
    template = f"{receiver.url}/ok?ext={{external_id}}&p={{payout}}&s={{status}}&e={{event}}"
    setup = make_setup(live, source={"postback_url": template})
    cid = click(http, setup, subid="EXT9")
    resp = client.post(
        "/api/v1/conversions",
        json={"clickid": cid.lower(), "event": "Lead", "payout": "10", "currency": "EUR",
              "comperc": 10, "txid": "INV-7", "params": {"source": "csv"}},
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    body = resp.json()
    rate = rates.rate("EUR", "USD", datetime.now(UTC).date())
    payout = to_micros(Decimal(10) * rate.value)
    assert (body["result"], body["delivery_queued"], body["clickid"]) == ("accepted", True, cid)
    assert (body["event"], body["status"], body["txid"]) == ("Lead", "approved", "INV-7")
    assert (body["payout"], body["revenue"]) == (format_micros(payout), format_micros(payout))
    assert body["commission"] == format_micros(to_micros(Decimal(1) * rate.value))
    assert (body["original_amount"], body["original_currency"]) == ("10", "EUR")
    assert (body["fx_rate"], body["fx_date"]) == (str(rate.value), rate.on and rate.on.isoformat())
    assert (body["params"], body["test"], body["currency"]) == ({"source": "csv"}, False, "USD")
    [row] = body["history"]
    assert (row["from_status"], row["to_status"], row["revenue_delta"]) == (
        None,
        "approved",
        format_micros(payout),
    )
    assert (row["origin"], row["api_key_id"], row["postback_id"]) == ("manual", key_id, None)
    assert deliveries(live) == [(body["id"], "approved")]
    assert deliver_now(live) == 1
    [hit] = receiver.hits
    assert hit.query == f"ext=EXT9&p={format_micros(payout)}&s=approved&e=Lead"
    # The same conversion reads back the same, and no postback was logged for it.
    assert client.get(f"/api/v1/conversions/{body['id']}").json()["history"] == [row]
    assert client.get("/api/v1/postback-log").json()["items"] == []


def test_the_offers_payout_is_the_default_as_for_a_postback(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live, offer={"payout_micros": 3_250_000, "currency": "USD"})
    resp = api.post("/api/v1/conversions", json={"clickid": click(http, setup)})
    assert resp.status_code == 201, resp.text
    assert (resp.json()["payout"], resp.json()["status"], resp.json()["event"]) == (
        "3.25",
        "approved",
        "conversion",
    )
    assert resp.json()["delivery_queued"] is False  # the source has no postback URL


FIRST = {"txid": "A", "payout": "5"}


@pytest.mark.parametrize(
    ("mode", "second", "want"),
    [
        ("ignore", {"txid": "A"}, "duplicate"),
        ("ignore", {"txid": "B", "payout": "7"}, "duplicate"),  # one per click and event
        ("ignore", {"txid": "A", "status": "refunded"}, "updated"),
        ("new_per_txid", {"txid": "A", "payout": "7"}, "duplicate"),
        ("new_per_txid", {"txid": "B"}, "accepted"),
        ("update", {"txid": "A", "payout": "7"}, "updated"),
        ("update", {"txid": "A", "payout": "5"}, "duplicate"),
        ("accumulate", {"txid": "B", "payout": "7"}, "updated"),
    ],
)
def test_a_repeat_follows_the_networks_duplicate_mode_like_a_postback(
    live: LiveServer,
    http: httpx.Client,
    api: httpx.Client,
    mode: str,
    second: dict[str, str],
    want: str,
) -> None:
    setup = make_setup(live, network={"duplicate_mode": mode})
    by_postback, by_hand = click(http, setup), click(http, setup)
    for fields in (FIRST, second):
        http.get(setup.postback, params=setup.with_token({"clickid": by_postback, **fields}))
    first = api.post("/api/v1/conversions", json={"clickid": by_hand, **FIRST})
    assert first.status_code == 201
    resp = api.post("/api/v1/conversions", json={"clickid": by_hand, **second})
    status = {"accepted": 201, "updated": 200, "duplicate": 409}[want]
    assert resp.status_code == status, resp.text
    if want == "duplicate":
        assert resp.json()["error"] == "duplicate"
        assert first.json()["id"] in resp.json()["detail"]
        assert repr(mode) in resp.json()["detail"]
    else:
        assert resp.json()["result"] == want
    # The postbacks and the manual calls left the same conversions on their clicks.
    with live.runtime.db.session() as s:
        columns = (
            Conversion.click_id,
            Conversion.txid,
            Conversion.status,
            Conversion.payout_micros,
        )
        rows = s.execute(select(*columns)).all()
    mine = sorted(tuple(r[1:]) for r in rows if r[0] == by_hand)
    assert mine == sorted(tuple(r[1:]) for r in rows if r[0] == by_postback)
    assert len(conversions(live)) == 2 * len(mine)


def test_a_manual_conversion_after_a_postback_is_a_duplicate(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    http.get(f"{setup.postback}&clickid={cid}&payout=2")
    resp = api.post("/api/v1/conversions", json={"clickid": cid, "payout": "2"})
    assert (resp.status_code, resp.json()["error"]) == (409, "duplicate")
    assert len(conversions(live)) == 1


@pytest.mark.parametrize("clickid", [NOT_A_CLICK, "not-a-click-id", "{clickid}"])
def test_an_unknown_click_is_404_with_its_reason(
    live: LiveServer, api: httpx.Client, clickid: str
) -> None:
    resp = api.post("/api/v1/conversions", json={"clickid": clickid})
    assert resp.status_code == 404
    assert resp.json()["error"] == "unknown_click"
    assert clickid.upper() in resp.json()["detail"]
    assert conversions(live) == []


def test_the_lookback_window_holds_unless_the_admin_overrides_it(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live, network={"lookback_days": 1})
    cid = click(http, setup)
    with live.runtime.db.session() as s:
        old = datetime.now(UTC) - timedelta(days=2)
        s.execute(update(Click).where(Click.id == cid).values(created_at=old))
    refused = http.get(f"{setup.postback}&clickid={cid}")
    assert refused.status_code == 410
    resp = api.post("/api/v1/conversions", json={"clickid": cid})
    assert (resp.status_code, resp.json()["error"]) == (409, "outside_window")
    assert "ignore_window" in resp.json()["detail"]
    assert conversions(live) == []
    resp = api.post("/api/v1/conversions", json={"clickid": cid, "ignore_window": True})
    assert resp.status_code == 201, resp.text
    assert len(conversions(live)) == 1


def test_a_test_conversion_is_flagged_and_not_posted_back(
    live: LiveServer, http: httpx.Client, api: httpx.Client, receiver: Receiver
) -> None:
    setup = make_setup(live, source={"postback_url": f"{receiver.url}/ok?s={{status}}"})
    resp = api.post("/api/v1/conversions", json={"clickid": click(http, setup), "test": True})
    assert resp.status_code == 201, resp.text
    assert (resp.json()["test"], resp.json()["delivery_queued"]) == (True, False)
    assert deliveries(live) == []


def _setup(live: LiveServer, http: httpx.Client) -> tuple[Setup, str]:
    setup = make_setup(live)
    return setup, click(http, setup)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "clickid"),
        ({"clickid": ""}, "clickid"),
        ({"clickid": "C", "payout": "abc"}, "payout"),
        ({"clickid": "C", "payout": -1}, "payout"),
        ({"clickid": "C", "payout": "1.0000001"}, "payout"),
        ({"clickid": "C", "payout": True}, "payout"),
        ({"clickid": "C", "status": "won"}, "status"),
        ({"clickid": "C", "event": "not an event"}, "event"),
        ({"clickid": "C", "currency": "EURO"}, "currency"),
        ({"clickid": "C", "currency": "XYZ"}, "currency"),
        ({"clickid": "C", "comperc": 150}, "comperc"),
        ({"clickid": "C", "com": "much"}, "com"),
        ({"clickid": "C", "txid": "x" * 300}, "txid"),
        ({"clickid": "C", "params": {"a": {"b": 1}}}, "params.a"),
        ({"clickid": "C", "params": {"bad name": "1"}}, "params.bad name.[key]"),
        ({"clickid": "C", "test": "maybe"}, "test"),
        ({"clickid": "C", "color": "red"}, "color"),
        ({"clickid": "C\x00"}, "clickid"),
    ],
)
def test_a_malformed_body_is_422_with_the_field(
    live: LiveServer, http: httpx.Client, api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    _, cid = _setup(live, http)
    if body.get("clickid") == "C":
        body = {**body, "clickid": cid}
    resp = api.post("/api/v1/conversions", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "validation_error"
    assert field in {f["field"] for f in resp.json()["fields"]}, resp.json()
    assert conversions(live) == []


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b""])
def test_a_body_that_is_not_an_object_is_422(
    live: LiveServer, api: httpx.Client, content: bytes
) -> None:
    headers = {"Content-Type": "application/json"}
    resp = api.post("/api/v1/conversions", content=content, headers=headers)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "validation_error"


def test_writes_need_an_api_key(live: LiveServer, http: httpx.Client) -> None:
    assert http.post("/api/v1/conversions", json={"clickid": NOT_A_CLICK}).status_code == 401
    patch = http.patch(f"/api/v1/conversions/{NOT_A_CLICK}", json={"status": "approved"})
    assert patch.status_code == 401
