"""PATCH /api/v1/conversions/{id}: a status change by hand appends one ledger row with its
revenue, payout and cost deltas, queues the outbound postback the source wants, and stays
exact when it races other changes and postbacks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from postback.conversions.fx import rates
from postback.kit.db import normalize_url
from postback.kit.money import format_micros, to_micros
from postback.models import Conversion, ConversionStatusChange, Delivery
from postback.reports.aggregator import Aggregator
from tests.conftest import LiveServer
from tests.factories import Setup, click, make_setup

NOT_A_CONVERSION = "01JB0000000000000000000000"


def cpa_setup(live: LiveServer, api: httpx.Client, statuses: list[str] | None = None) -> Setup:
    """A campaign on a 1.50 CPA whose source wants postbacks for `statuses`."""
    source: dict[str, Any] = {"postback_url": "http://127.0.0.1:9/pb?s={status}"}
    if statuses is not None:
        source["postback_statuses"] = statuses
    setup = make_setup(live, source=source)
    cost = {"model": "cpa", "value": "1.5"}
    resp = api.patch(f"/api/v1/campaigns/{setup.campaign_id}", json={"cost": cost})
    assert resp.status_code == 200, resp.text
    return setup


def convert(http: httpx.Client, setup: Setup, query: str = "payout=2.50") -> tuple[str, str]:
    """(click ID, conversion id) of a new conversion made by a postback."""
    cid = click(http, setup)
    resp = http.get(
        f"{setup.postback}&clickid={cid}&{query}",
        headers={"Accept": "application/json"},
    )
    assert resp.json()["result"] == "accepted", resp.text
    return cid, resp.json()["conversion_id"]


def delivered_statuses(live: LiveServer, conversion_id: str) -> list[str]:
    with live.runtime.db.session() as s:
        return list(
            s.scalars(
                select(Delivery.status)
                .where(Delivery.conversion_id == conversion_id)
                .order_by(Delivery.id)
            )
        )


def ledger(live: LiveServer, conversion_id: str) -> list[Any]:
    with live.runtime.db.session() as s:
        return list(
            s.execute(
                select(ConversionStatusChange)
                .where(ConversionStatusChange.conversion_id == conversion_id)
                .order_by(ConversionStatusChange.id)
            ).scalars()
        )


def assert_consistent(live: LiveServer, conversion_id: str) -> list[Any]:
    """The ledger is one unbroken chain of statuses, and its deltas sum to the current values."""
    rows = ledger(live, conversion_id)
    with live.runtime.db.session() as s:
        current = s.get(Conversion, conversion_id)
        assert current is not None
        assert [r.from_status for r in rows] == [None] + [r.to_status for r in rows[:-1]]
        assert rows[-1].to_status == current.status
        assert sum(r.payout_delta_micros for r in rows) == current.payout_micros
        assert sum(r.revenue_delta_micros for r in rows) == current.revenue_micros
        assert sum(r.cost_delta_micros for r in rows) == current.cost_micros
    return rows


@pytest.mark.parametrize(
    ("statuses", "queued"),
    # The default is ["approved"]; an empty list means every status.
    [(None, False), (["approved", "rejected"], True), ([], True)],
)
def test_rejecting_reverses_revenue_and_cpa_cost_and_posts_back_if_wanted(
    live: LiveServer,
    http: httpx.Client,
    api: httpx.Client,
    statuses: list[str] | None,
    queued: bool,
) -> None:
    setup = cpa_setup(live, api, statuses)
    _, conversion = convert(http, setup)
    key = api.post("/api/v1/api-keys", json={"name": "reviewer"}).json()
    resp = api.patch(
        f"/api/v1/conversions/{conversion}",
        json={"status": "rejected"},
        headers={"Authorization": f"Bearer {key['key']}"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["result"], body["detail"], body["delivery_queued"]) == (
        "updated",
        "approved -> rejected",
        queued,
    )
    assert (body["status"], body["revenue"], body["cost"], body["payout"]) == (
        "rejected",
        "0",
        "0",
        "2.5",
    )
    steps = [
        (h["from_status"], h["to_status"], h["revenue_delta"], h["cost_delta"], h["origin"])
        for h in body["history"]
    ]
    assert steps == [
        (None, "approved", "2.5", "1.5", "postback"),
        ("approved", "rejected", "-2.5", "-1.5", "manual"),
    ]
    first, second = body["history"]
    log = api.get("/api/v1/postback-log").json()["items"]
    assert first["postback_id"] == log[0]["id"]  # the postback that made the conversion
    assert (second["postback_id"], second["api_key_id"]) == (None, key["id"])
    assert delivered_statuses(live, conversion) == ["approved"] + ["rejected"] * queued
    assert_consistent(live, conversion)


def test_refund_and_chargeback_reverse_and_approval_restores(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = cpa_setup(live, api)
    _, conversion = convert(http, setup, "payout=2.50&status=pending")
    want = {"approved": ("2.5", "1.5"), "refunded": ("0", "0"), "chargeback": ("0", "0"),
            "pending": ("0", "0")}  # fmt: skip
    for status in ("approved", "refunded", "approved", "chargeback", "pending", "approved"):
        body = api.patch(f"/api/v1/conversions/{conversion}", json={"status": status}).json()
        assert (body["status"], (body["revenue"], body["cost"])) == (status, want[status])
    rows = assert_consistent(live, conversion)
    assert len(rows) == 7
    assert {r.origin for r in rows[1:]} == {"manual"}


def test_a_new_payout_is_converted_and_recognised(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = make_setup(live)
    _, conversion = convert(http, setup, "payout=2.50&com=0.5")
    resp = api.patch(
        f"/api/v1/conversions/{conversion}",
        json={"status": "approved", "payout": "4", "currency": "EUR"},
    )
    assert resp.status_code == 200, resp.text
    rate = rates.rate("EUR", "USD", datetime.now(UTC).date())
    payout = to_micros(4 * rate.value)
    body = resp.json()
    assert (body["payout"], body["revenue"]) == (format_micros(payout),) * 2
    assert body["commission"] == "0.5"  # a status change leaves the commission alone
    assert body["delivery_queued"] is False  # the status did not change
    assert body["history"][-1]["payout_delta"] == format_micros(payout - 2_500_000)
    resp = api.patch(f"/api/v1/conversions/{conversion}", json={"status": "pending", "payout": 3})
    assert (resp.json()["payout"], resp.json()["revenue"]) == ("3", "0")
    assert_consistent(live, conversion)


def test_the_same_status_and_payout_appends_nothing(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = cpa_setup(live, api)
    _, conversion = convert(http, setup)
    for body in ({"status": "approved"}, {"status": "approved", "payout": "2.5"}):
        resp = api.patch(f"/api/v1/conversions/{conversion.lower()}", json=body)
        assert resp.status_code == 200, resp.text
        assert (resp.json()["result"], resp.json()["delivery_queued"]) == ("unchanged", False)
        assert "already" in resp.json()["detail"]
        assert len(resp.json()["history"]) == 1
    assert len(ledger(live, conversion)) == 1
    assert delivered_statuses(live, conversion) == ["approved"]


@pytest.mark.parametrize("conversion_id", [NOT_A_CONVERSION, "nope", "x" * 64])
def test_an_unknown_conversion_is_404(
    live: LiveServer, api: httpx.Client, conversion_id: str
) -> None:
    resp = api.patch(f"/api/v1/conversions/{conversion_id}", json={"status": "rejected"})
    assert (resp.status_code, resp.json()["error"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "status"),
        ({"status": "won"}, "status"),
        ({"status": None}, "status"),
        ({"status": "approved", "payout": "x"}, "payout"),
        ({"status": "approved", "payout": -2}, "payout"),
        ({"status": "approved", "currency": "EUR"}, "currency"),
        ({"status": "approved", "payout": 1, "currency": "XYZ"}, "currency"),
        ({"status": "approved", "event": "lead"}, "event"),
    ],
)
def test_a_bad_change_is_422_with_the_field(
    live: LiveServer, http: httpx.Client, api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    _, conversion = convert(http, make_setup(live))
    resp = api.patch(f"/api/v1/conversions/{conversion}", json=body)
    assert resp.status_code == 422, resp.text
    assert field in {f["field"] for f in resp.json()["fields"]}, resp.json()
    assert len(ledger(live, conversion)) == 1


# --- races --------------------------------------------------------------------------------------

CYCLE = ("rejected", "approved", "refunded", "pending", "approved", "chargeback")


def test_racing_status_changes_keep_one_exact_ledger(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = cpa_setup(live, api)
    _, conversion = convert(http, setup)
    barrier = threading.Barrier(12, timeout=20)

    def change(n: int) -> str:
        body = {"status": CYCLE[n % len(CYCLE)], "payout": str(1 + n % 3)}
        with httpx.Client(base_url=live.url, headers=api.headers, timeout=30) as client:
            barrier.wait()
            resp = client.patch(f"/api/v1/conversions/{conversion}", json=body)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["result"])

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(change, range(12)))
    rows = assert_consistent(live, conversion)
    assert len(rows) == 1 + results.count("updated")


def test_status_changes_racing_postbacks_keep_one_exact_ledger(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = cpa_setup(live, api)
    cid, conversion = convert(http, setup)
    barrier = threading.Barrier(12, timeout=20)

    def change(n: int) -> str:
        status = CYCLE[n % len(CYCLE)]
        with httpx.Client(base_url=live.url, headers=api.headers, timeout=30) as client:
            barrier.wait()
            if n % 2:
                url = f"{setup.postback}&clickid={cid}&status={status}"
                return client.get(url).text.split()[1]
            resp = client.patch(f"/api/v1/conversions/{conversion}", json={"status": status})
            return str(resp.json()["result"])

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(change, range(12)))
    rows = assert_consistent(live, conversion)
    assert len(rows) == 1 + results.count("updated")
    assert {r.origin for r in rows[1:]} <= {"manual", "postback"}


# --- reports ------------------------------------------------------------------------------------


def test_reports_follow_a_manual_conversion_and_its_rejection_across_folds(
    live: LiveServer, http: httpx.Client, api: httpx.Client
) -> None:
    setup = cpa_setup(live, api)
    created = api.post("/api/v1/conversions", json={"clickid": click(http, setup), "payout": 4})
    assert created.status_code == 201, created.text
    today = datetime.now(UTC).date()
    params = {"group_by": "campaign", "tz": "UTC", "from": today.isoformat(),
              "to": (today + timedelta(days=1)).isoformat()}  # fmt: skip
    keys = ("conversions", "approved", "rejected", "revenue", "cost")

    def report() -> tuple[object, ...]:
        [row] = api.get("/api/v1/reports", params=params).json()["rows"]
        return tuple(row[k] for k in keys)

    def fold() -> None:
        # Up to now, not beyond: a row stamped later (the change below) must stay unfolded.
        engine = create_engine(normalize_url(live.settings.database_url))
        try:
            Aggregator(engine).catch_up(datetime.now(UTC))
        finally:
            engine.dispose()

    fold()
    assert report() == (1, 1, 0, "4", "1.5")
    resp = api.patch(f"/api/v1/conversions/{created.json()['id']}", json={"status": "rejected"})
    assert resp.status_code == 200, resp.text
    assert report() == (1, 0, 1, "0", "0")  # from the raw rows after the watermark
    fold()
    assert report() == (1, 0, 1, "0", "0")  # from the rollups
