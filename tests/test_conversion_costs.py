"""Cost that arises at conversion time: CPA and RevShare campaigns, through postbacks, the
conversions API and reports. Each conversion's cost is the sum of its ledger's cost deltas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, select

from postback.conversions.ledger import CostTerms, first_change, repeat_change, revenue_share
from postback.kit.db import normalize_url
from postback.models import Conversion, ConversionStatusChange
from postback.reports.aggregator import Aggregator
from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup

CPA = CostTerms("cpa", 1_500_000)  # 1.50 per conversion
REVSHARE = CostTerms("revshare", 40_000_000)  # 40% of revenue
STATUSES = ("approved", "pending", "rejected", "refunded", "chargeback")


# --- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("revenue", "rate", "cost"),
    [
        (2_500_000, 40_000_000, 1_000_000),  # 40% of 2.50 is 1.00
        (1, 50_000_000, 0),  # half a micro rounds to even: 0
        (3, 50_000_000, 2),  # 1.5 micros -> 2
        (5, 50_000_000, 2),  # 2.5 micros -> 2
        (999_999, 33_333_333, 333_333),  # 333,332.9966... micros
        (1, 100_000_000, 1),  # 100%
        (7, 0, 0),
        (-3, 50_000_000, -2),  # a negative amount rounds the same way
        (10**18, 12_345_678, 123_456_780_000_000_000),  # no float would keep these digits
    ],
)
def test_revenue_share_is_exact_and_rounds_half_even(revenue: int, rate: int, cost: int) -> None:
    assert revenue_share(revenue, rate) == cost


@given(st.integers(-(10**18), 10**18), st.integers(0, 10**10))
def test_revenue_share_equals_decimal_arithmetic(revenue: int, rate: int) -> None:
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(revenue) * rate / Decimal(10**8)
        assert revenue_share(revenue, rate) == int(exact.quantize(1, rounding=ROUND_HALF_EVEN))


@pytest.mark.parametrize("status", STATUSES)
def test_cpa_costs_the_amount_exactly_while_revenue_counts(status: str) -> None:
    change = first_change(status, 2_500_000, 0, CPA)
    counts = change.revenue_micros > 0
    assert counts == (status == "approved")
    assert change.cost_micros == (1_500_000 if counts else 0)
    assert change.cost_delta == change.cost_micros


@pytest.mark.parametrize("model", ["none", "cpc", "cpm", "token", "something-new"])
def test_click_priced_models_cost_nothing_per_conversion(model: str) -> None:
    assert CostTerms(model, 1_500_000).cost("approved", 2_500_000) == 0


def test_a_repeat_recomputes_the_cost_and_records_the_difference() -> None:
    state = {"status": "approved", "payout_micros": 2_500_000, "commission_micros": 0,
             "revenue_micros": 2_500_000, "cost_micros": 1_000_000}  # fmt: skip
    more = repeat_change("accumulate", **state, terms=REVSHARE, new_status=None,
                         new_payout_micros=1_250_000, new_commission_micros=0)  # fmt: skip
    assert more is not None
    assert (more.revenue_micros, more.cost_micros, more.cost_delta) == (
        3_750_000,
        1_500_000,
        500_000,
    )
    refund = repeat_change("ignore", **state, terms=CPA, new_status="refunded",
                           new_payout_micros=None, new_commission_micros=0)  # fmt: skip
    assert refund is not None
    assert (refund.cost_micros, refund.cost_delta) == (0, -1_000_000)
    same = repeat_change("update", **state, terms=CPA, new_status="approved",
                         new_payout_micros=2_500_000, new_commission_micros=0)  # fmt: skip
    assert same is None  # nothing changed: no ledger row, the cost stays as it was


# --- through postbacks -------------------------------------------------------------------------


def set_cost(api: httpx.Client, setup: Setup, model: str, value: str | None = None) -> None:
    """Set the campaign's cost through the campaigns API, as a user would."""
    cost = {"model": model, "value": value}
    resp = api.patch(f"/api/v1/campaigns/{setup.campaign_id}", json={"cost": cost})
    assert resp.status_code == 200, resp.text
    assert resp.json()["cost"] == cost


def cost_of(live: LiveServer, conversion_id: str) -> tuple[str, int, int]:
    """(status, revenue, cost) of a conversion, after checking that its ledger adds up."""
    assert_ledgers_add_up(live)
    with live.runtime.db.session() as s:
        row = s.execute(
            select(Conversion.status, Conversion.revenue_micros, Conversion.cost_micros).where(
                Conversion.id == conversion_id
            )
        ).one()
    return row[0], row[1], row[2]


def assert_ledgers_add_up(live: LiveServer) -> None:
    """Every conversion's revenue and cost equal the sums of its ledger rows' deltas."""
    change = ConversionStatusChange
    with live.runtime.db.session() as s:
        sums = {
            r[0]: (int(r[1]), int(r[2]))
            for r in s.execute(
                select(
                    change.conversion_id,
                    func.sum(change.revenue_delta_micros),
                    func.sum(change.cost_delta_micros),
                ).group_by(change.conversion_id)
            )
        }
        current = s.execute(
            select(Conversion.id, Conversion.revenue_micros, Conversion.cost_micros)
        ).all()
    assert current and {r[0]: (r[1], r[2]) for r in current} == sums


def cost_deltas(live: LiveServer, conversion_id: str) -> list[int]:
    with live.runtime.db.session() as s:
        return list(
            s.scalars(
                select(ConversionStatusChange.cost_delta_micros)
                .where(ConversionStatusChange.conversion_id == conversion_id)
                .order_by(ConversionStatusChange.id)
            )
        )


def postback(http: httpx.Client, setup: Setup, clickid: str, query: str) -> tuple[str, str]:
    """(result, conversion id) of one postback, e.g. ("accepted", "01...")."""
    resp = http.get(
        f"{setup.postback}&clickid={clickid}&{query}",
        headers={"Accept": "application/json"},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["result"], resp.json()["conversion_id"]


def test_cpa_approved_costs_the_cpa_rejected_nothing_and_a_refund_reverses_it(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live)
    set_cost(api, setup, "cpa", "1.5")
    _, approved = postback(http, setup, click(http, setup), "payout=2.50")
    assert cost_of(live, approved) == ("approved", 2_500_000, 1_500_000)
    _, rejected = postback(http, setup, click(http, setup), "payout=2.50&status=rejected")
    assert cost_of(live, rejected) == ("rejected", 0, 0)
    refunded_click = click(http, setup)
    _, refunded = postback(http, setup, refunded_click, "payout=2.50")
    assert postback(http, setup, refunded_click, "status=refunded")[0] == "updated"
    assert cost_of(live, refunded) == ("refunded", 0, 0)
    assert cost_deltas(live, refunded) == [1_500_000, -1_500_000]


def test_cpa_cost_arises_on_approval_and_goes_with_a_chargeback(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live)
    set_cost(api, setup, "cpa", "1.5")
    clickid = click(http, setup)
    _, conversion = postback(http, setup, clickid, "payout=2.50&status=pending")
    assert cost_of(live, conversion) == ("pending", 0, 0)
    postback(http, setup, clickid, "status=approved")
    assert cost_of(live, conversion) == ("approved", 2_500_000, 1_500_000)
    postback(http, setup, clickid, "status=chargeback")
    assert cost_of(live, conversion) == ("chargeback", 0, 0)
    assert cost_deltas(live, conversion) == [0, 1_500_000, -1_500_000]


def test_revshare_takes_its_share_and_follows_an_accumulated_payout(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live, network={"duplicate_mode": "accumulate"})
    set_cost(api, setup, "revshare", "40")
    clickid = click(http, setup)
    _, conversion = postback(http, setup, clickid, "payout=2.50&txid=A")
    assert cost_of(live, conversion) == ("approved", 2_500_000, 1_000_000)
    assert postback(http, setup, clickid, "payout=1.25&txid=B")[0] == "updated"
    assert cost_of(live, conversion) == ("approved", 3_750_000, 1_500_000)
    postback(http, setup, clickid, "status=refunded")
    assert cost_of(live, conversion) == ("refunded", 0, 0)
    assert cost_deltas(live, conversion) == [1_000_000, 500_000, -1_500_000]


def test_revshare_follows_an_updated_payout_and_status(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live, network={"duplicate_mode": "update"})
    set_cost(api, setup, "revshare", "40")
    clickid = click(http, setup)
    _, conversion = postback(http, setup, clickid, "payout=2.50&status=pending")
    assert cost_of(live, conversion) == ("pending", 0, 0)  # no revenue yet, so no share
    postback(http, setup, clickid, "payout=2.50&status=approved")
    assert cost_of(live, conversion) == ("approved", 2_500_000, 1_000_000)
    postback(http, setup, clickid, "payout=0.000003")  # 40% of 3 micros: 1.2 -> 1
    assert cost_of(live, conversion) == ("approved", 3, 1)
    assert cost_deltas(live, conversion) == [0, 1_000_000, -999_999]


def test_a_click_priced_campaign_costs_nothing_per_conversion(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live)
    set_cost(api, setup, "cpc", "0.05")
    _, conversion = postback(http, setup, click(http, setup), "payout=2.50")
    assert cost_of(live, conversion) == ("approved", 2_500_000, 0)


def test_a_refund_takes_the_cost_back_even_after_the_campaign_changed_terms(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live)
    set_cost(api, setup, "cpa", "1.5")
    clickid = click(http, setup)
    _, conversion = postback(http, setup, clickid, "payout=2.50")
    set_cost(api, setup, "none")  # the deal ended; the conversion keeps its cost
    assert cost_of(live, conversion) == ("approved", 2_500_000, 1_500_000)
    postback(http, setup, clickid, "status=refunded")
    assert cost_of(live, conversion) == ("refunded", 0, 0)


def test_the_conversions_api_shows_cost_and_each_change_of_it(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live)
    set_cost(api, setup, "revshare", "40")
    clickid = click(http, setup)
    _, conversion = postback(http, setup, clickid, "payout=2.50")
    postback(http, setup, clickid, "status=chargeback")
    [item] = api.get("/api/v1/conversions", params={"campaign_id": setup.campaign_id}).json()[
        "items"
    ]
    assert (item["id"], item["status"], item["cost"]) == (conversion, "chargeback", "0")
    history = api.get(f"/api/v1/conversions/{conversion}").json()["history"]
    assert [(h["to_status"], h["revenue_delta"], h["cost_delta"]) for h in history] == [
        ("approved", "2.5", "1"),
        ("chargeback", "-2.5", "-1"),
    ]


# --- in reports --------------------------------------------------------------------------------


def test_a_report_counts_click_cost_and_conversion_cost(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    """Two clicks bought at 0.05 each, then the campaign moves to a 40% RevShare: a 2.50
    conversion costs 1.00 more. Raw rows and folded rollups give the same report."""
    setup = make_setup(live)
    set_cost(api, setup, "cpc", "0.05")
    live.runtime.routes.clear()
    clicks = [click(http, setup), click(http, setup)]
    set_cost(api, setup, "revshare", "40")
    postback(http, setup, clicks[0], "payout=2.50")
    today = datetime.now(UTC).date()
    params = {
        "group_by": "campaign", "count_by": "both", "tz": "UTC",
        "from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat(),
    }  # fmt: skip
    want = {"clicks": 2, "conversions": 1, "revenue": "2.5", "cost": "1.1", "profit": "1.4",
            "roi": "127.27", "cpa": "1.100000", "click_time_cost": "1.1",
            "click_time_profit": "1.4"}  # fmt: skip

    def report() -> dict[str, object]:
        body = api.get("/api/v1/reports", params=params).json()
        [row] = body["rows"]
        assert row["campaign"] == setup.campaign_id
        assert {k: body["totals"][k] for k in want} == {k: row[k] for k in want}
        return {k: row[k] for k in want}

    assert report() == want
    engine = create_engine(normalize_url(live.settings.database_url))
    try:
        Aggregator(engine).catch_up(datetime.now(UTC) + timedelta(seconds=1))
    finally:
        engine.dispose()
    assert report() == want
