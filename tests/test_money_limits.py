"""Every number a stranger can send: exact or refused with a reason code, never a 5xx, and
bounded so that the 64-bit sums of reports cannot overflow (docs/adr/0014-money-limits.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from postback.kit.money import AMOUNT_MAX_MICROS, CLICK_COST_MAX_MICROS
from postback.models import Campaign, Click, Conversion, PostbackLogEntry
from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup

BAD_AMOUNTS = [
    "1e99999999999",
    "1e-309",
    "1e999",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "sNaN",
    "\u0661\u0662",  # Arabic-Indic digits: Decimal reads them, a payout is not written so
    "\uff11\uff12",  # full-width digits
    "1" * 60,
    "0." + "0" * 12 + "1",  # 13 decimal places
    "-1",
    "1e12",
    "10000000.000001",  # just above the maximum, 10 million units
    "1.2.3",
    "0x10",
    "1_000",
]


def conversions(live: LiveServer) -> list[tuple[Any, ...]]:
    with live.runtime.db.session() as s:
        rows = s.execute(
            select(
                Conversion.status,
                Conversion.payout_micros,
                Conversion.revenue_micros,
                Conversion.commission_micros,
                Conversion.original_amount,
                Conversion.original_currency,
            ).order_by(Conversion.id)
        ).all()
    return [tuple(r) for r in rows]


def last_reason(live: LiveServer) -> str:
    with live.runtime.db.session() as s:
        query = select(PostbackLogEntry.reason).order_by(PostbackLogEntry.received_at.desc())
        return str(s.execute(query.limit(1)).scalar_one())


def postback(http: httpx.Client, setup: Setup, cid: str, query: str) -> httpx.Response:
    return http.get(f"{setup.postback}&clickid={cid}&{query}")


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
@pytest.mark.parametrize("name", ["payout", "com", "comperc"])
def test_a_bad_amount_is_refused_as_invalid_payout(
    live: LiveServer, http: httpx.Client, name: str, amount: str
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    query = httpx.QueryParams({name: amount, **({"payout": "5"} if name != "payout" else {})})
    resp = postback(http, setup, cid, str(query))
    assert resp.status_code == 400, resp.text
    assert resp.text.startswith("ERROR invalid_payout"), resp.text
    assert conversions(live) == []
    assert last_reason(live) == "invalid_payout"


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("payout=10&comperc=100.000001", "more than 100"),
        ("payout=10&comperc=150", "more than 100"),
        ("payout=10&com=10.000001", "more than the payout"),
        ("com=1", "more than the payout"),  # the offer pays 0
    ],
)
def test_commission_never_exceeds_its_base(
    live: LiveServer, http: httpx.Client, query: str, detail: str
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    resp = postback(http, setup, cid, query)
    assert resp.status_code == 400, resp.text
    assert "invalid_payout" in resp.text and detail in resp.text
    assert conversions(live) == []


def test_amounts_at_the_edges_are_exact(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live, network={"duplicate_mode": "new_per_txid"})
    cid = click(http, setup)
    cases = {
        "A": "payout=-0&comperc=100",
        "B": "payout=2.5e3&com=2.5E3",
        "C": "payout=0.000000000001",  # 12 places: kept exactly, rounds to 0 micros
        "D": "payout=10000000&comperc=100",  # the maximum, and its full commission
        "E": "payout=1,5&comperc=0",
    }
    for txid, query in cases.items():
        resp = postback(http, setup, cid, f"{query}&txid={txid}")
        assert resp.text.startswith("OK accepted"), (query, resp.text)
    assert sorted(conversions(live), key=lambda r: r[4]) == sorted(
        [
            ("approved", 0, 0, 0, "0", "USD"),
            ("approved", 2_500_000_000, 2_500_000_000, 2_500_000_000, "2500", "USD"),
            ("approved", 0, 0, 0, "0.000000000001", "USD"),
            (
                "approved",
                AMOUNT_MAX_MICROS,
                AMOUNT_MAX_MICROS,
                AMOUNT_MAX_MICROS,
                "10000000",
                "USD",
            ),
            ("approved", 1_500_000, 1_500_000, 0, "1.5", "USD"),
        ],
        key=lambda r: r[4],
    )


def test_a_converted_payout_above_the_maximum_is_refused(
    live: LiveServer, http: httpx.Client
) -> None:
    """9,000,000 GBP is under the maximum as a number, over it in US dollars."""
    setup = make_setup(live)
    cid = click(http, setup)
    resp = postback(http, setup, cid, "payout=9000000&currency=GBP")
    assert resp.status_code == 400 and "invalid_payout" in resp.text, resp.text
    assert conversions(live) == []


def test_an_accumulated_total_past_the_maximum_is_refused(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live, network={"duplicate_mode": "accumulate"})
    cid = click(http, setup)
    for _ in range(2):
        assert postback(http, setup, cid, "payout=5000000").status_code == 200
    resp = postback(http, setup, cid, "payout=0.000001")
    assert resp.status_code == 400 and "invalid_payout" in resp.text, resp.text
    assert "accumulated payout" in resp.text
    assert conversions(live) == [
        ("approved", AMOUNT_MAX_MICROS, AMOUNT_MAX_MICROS, 0, "5000000", "USD")
    ]


def test_an_accumulated_commission_past_the_maximum_is_refused(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live, network={"duplicate_mode": "accumulate"})
    cid = click(http, setup)
    assert postback(http, setup, cid, "payout=10000000&comperc=100").status_code == 200
    resp = postback(http, setup, cid, "payout=0&com=0&comperc=0")
    assert resp.text.strip() == "OK duplicate", resp.text
    assert conversions(live)[0][3] == AMOUNT_MAX_MICROS


# --- clicks ------------------------------------------------------------------------------------


def token_cost_setup(live: LiveServer) -> Setup:
    setup = make_setup(live, source={"cost_param": "cost"})
    with live.runtime.db.session() as s:
        s.execute(update(Campaign).values(cost_model="token"))
    live.runtime.routes.clear()
    return setup


@pytest.mark.parametrize(
    ("cost", "micros"),
    [
        ("999999999999", 0),
        ("1e99999999999", 0),
        ("1000.000001", 0),
        ("NaN", 0),
        ("-5", 0),
        ("1000", CLICK_COST_MAX_MICROS),
        ("0.05", 50_000),
    ],
)
def test_a_click_with_an_absurd_cost_token_redirects_and_costs_nothing(
    live: LiveServer, http: httpx.Client, cost: str, micros: int
) -> None:
    setup = token_cost_setup(live)
    cid = click(http, setup, cost=cost)  # asserts the 302
    with live.runtime.db.session() as s:
        got = s.execute(select(Click.cost_micros, Click.tokens).where(Click.id == cid)).one()
    assert got.cost_micros == micros
    assert got.tokens["cost"] == cost  # the text sent stays with the click


def test_reports_answer_after_clicks_with_absurd_costs(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = token_cost_setup(live)
    for _ in range(3):
        click(http, setup, cost="999999999999")
        click(http, setup, cost="9223372036854.775807")
    resp = api.get("/api/v1/reports", params={"group_by": "campaign"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["totals"]["cost"] == "0"


# --- currencies --------------------------------------------------------------------------------


def test_a_currency_without_a_payout_does_not_relabel_the_offer_payout(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live, offer={"payout_micros": 5_000_000, "currency": "USD"})
    cid = click(http, setup)
    assert postback(http, setup, cid, "currency=EUR").text.startswith("OK accepted")
    assert conversions(live) == [("approved", 5_000_000, 5_000_000, 0, "5", "USD")]
    with live.runtime.db.session() as s:
        assert s.execute(select(Conversion.params)).scalar_one() == {"currency": "EUR"}


def test_a_stale_rate_is_refused_as_no_rate(live: LiveServer, http: httpx.Client) -> None:
    """ECB's last RUB rate is from 2022-03-01: never used silently for a conversion today."""
    setup = make_setup(live)
    cid = click(http, setup)
    resp = postback(http, setup, cid, "payout=100&currency=RUB")
    assert resp.status_code == 400, resp.text
    assert resp.text.startswith("ERROR no_rate") and "2022-03-01" in resp.text
    assert conversions(live) == [] and last_reason(live) == "no_rate"


def test_the_rate_age_limit_is_a_setting(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    before = live.settings.fx_max_rate_age
    live.settings.fx_max_rate_age = timedelta(days=365 * 20)
    try:
        resp = postback(http, setup, cid, "payout=100&currency=RUB")
    finally:
        live.settings.fx_max_rate_age = before
    assert resp.text.startswith("OK accepted"), resp.text
    assert conversions(live)[0][4:] == ("100", "RUB")


def test_a_fresh_rate_is_used(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    assert postback(http, setup, cid, "payout=100&currency=EUR").text.startswith("OK accepted")
    with live.runtime.db.session() as s:
        assert s.execute(select(func.count()).select_from(Conversion)).scalar_one() == 1


# --- the admin API -----------------------------------------------------------------------------


def fields_of(resp: httpx.Response) -> set[str]:
    assert resp.status_code == 422, resp.text
    return {f["field"] for f in resp.json()["fields"]}


@pytest.mark.parametrize("payout", ["10000000.000001", "1e99999999999", "NaN", "1" * 60])
def test_an_offer_payout_above_the_maximum_is_422(api: httpx.Client, payout: str) -> None:
    body = {"name": "o", "url": "https://offer.test/?c={clickid}", "payout": payout}
    assert fields_of(api.post("/api/v1/offers", json=body)) == {"payout"}
    body["payout"] = "10000000"
    created = api.post("/api/v1/offers", json=body)
    assert created.status_code == 201, created.text
    patched = api.patch(f"/api/v1/offers/{created.json()['id']}", json={"payout": payout})
    assert fields_of(patched) == {"payout"}


@pytest.mark.parametrize(
    ("model", "value", "ok"),
    [
        ("cpc", "1000", True),
        ("cpc", "1000.000001", False),
        ("cpm", "1000000", True),
        ("cpm", "1000000.000001", False),
        ("cpa", "10000000", True),
        ("cpa", "10000000.000001", False),
        ("cpc", "1e99999999999", False),
    ],
)
def test_campaign_costs_have_maxima(api: httpx.Client, model: str, value: str, ok: bool) -> None:
    source = api.post("/api/v1/traffic-sources", json={"name": "s"}).json()["id"]
    offer = api.post(
        "/api/v1/offers", json={"name": "o", "url": "https://offer.test/?c={clickid}"}
    ).json()["id"]
    body = {
        "name": "c",
        "traffic_source_id": source,
        "offers": [{"offer_id": offer}],
        "cost": {"model": model, "value": value},
    }
    resp = api.post("/api/v1/campaigns", json=body)
    if ok:
        assert resp.status_code == 201, resp.text
    else:
        assert {f.split(".")[0] for f in fields_of(resp)} == {"cost"}


def test_manual_conversions_have_the_postback_maxima(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    for body in (
        {"payout": "10000000.000001"},
        {"payout": "1", "com": "10000000.000001"},
        {"payout": "1", "comperc": "101"},
    ):
        resp = api.post("/api/v1/conversions", json={"clickid": cid, **body})
        assert resp.status_code == 422, (body, resp.text)
    for body in ({"payout": "1", "com": "2"}, {"payout": "9000000", "currency": "GBP"}):
        resp = api.post("/api/v1/conversions", json={"clickid": cid, **body})
        assert fields_of(resp) == {"payout"}, body
    resp = api.post("/api/v1/conversions", json={"clickid": cid, "payout": "10000000"})
    assert resp.status_code == 201, resp.text
    conversion_id = resp.json()["id"]
    for body in (
        {"status": "approved", "payout": "10000000.000001"},
        {"status": "approved", "payout": "9000000", "currency": "GBP"},
        {"status": "approved", "payout": "NaN"},
    ):
        resp = api.patch(f"/api/v1/conversions/{conversion_id}", json=body)
        assert fields_of(resp) == {"payout"}, body
    resp = api.post("/api/v1/conversions", json={"clickid": cid, "payout": "1", "currency": "RUB"})
    assert resp.status_code == 422 and "2022-03-01" in resp.text, resp.text
