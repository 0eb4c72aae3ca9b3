"""Duplicate modes, status transitions and races: one conversion per real conversion."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from postback.conversions import repository
from postback.conversions.ledger import CostTerms, repeat_change
from postback.models import Conversion, ConversionStatusChange
from tests.conftest import LiveServer
from tests.factories import click, conversion_row, make_setup


def state(live: LiveServer) -> list[tuple[str | None, str, int, int]]:
    with live.runtime.db.session() as s:
        rows = s.execute(
            select(
                Conversion.txid,
                Conversion.status,
                Conversion.payout_micros,
                Conversion.revenue_micros,
            ).order_by(Conversion.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def ledger_sums(live: LiveServer) -> tuple[int, int]:
    with live.runtime.db.session() as s:
        ledger = s.execute(select(func.sum(ConversionStatusChange.revenue_delta_micros))).scalar()
        current = s.execute(select(func.sum(Conversion.revenue_micros))).scalar()
    return int(ledger or 0), int(current or 0)


def test_new_per_txid_counts_each_txid_once(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live, network={"duplicate_mode": "new_per_txid"})
    cid = click(http, setup)
    pb = f"{setup.postback}&clickid={cid}&payout=5"
    answers = [http.get(pb + q).text.split()[1] for q in ("&txid=A", "&txid=B", "&txid=A")]
    assert answers == ["accepted", "accepted", "duplicate"]
    assert sorted(state(live)) == [
        ("A", "approved", 5_000_000, 5_000_000),
        ("B", "approved", 5_000_000, 5_000_000),
    ]


def test_per_event_mode_overrides_the_network_default(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live, network={"duplicate_modes": {"rebill": "new_per_txid"}})
    cid = click(http, setup)
    pb = f"{setup.postback}&clickid={cid}&payout=1"
    got = [
        http.get(pb + q).text.split()[1]
        for q in ("&txid=1", "&txid=2", "&event=rebill&txid=1", "&event=rebill&txid=2")
    ]
    assert got == ["accepted", "duplicate", "accepted", "accepted"]


def test_update_mode_replaces_payout_and_status(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live, network={"duplicate_mode": "update"})
    cid = click(http, setup)
    pb = f"{setup.postback}&clickid={cid}"
    assert http.get(pb + "&payout=2&status=pending").text.startswith("OK accepted")
    assert state(live)[0][1:] == ("pending", 2_000_000, 0)
    assert http.get(pb + "&payout=3&status=approved").text.strip() == "OK updated"
    assert state(live)[0][1:] == ("approved", 3_000_000, 3_000_000)
    assert http.get(pb + "&payout=3&status=approved").text.strip() == "OK duplicate"
    assert ledger_sums(live) == (3_000_000, 3_000_000)


def test_accumulate_mode_adds_payouts(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live, network={"duplicate_mode": "accumulate"})
    cid = click(http, setup)
    pb = f"{setup.postback}&clickid={cid}"
    for amount in ("1.10", "2.20", "0.000001"):
        http.get(pb + f"&payout={amount}")
    assert state(live) == [(None, "approved", 3_300_001, 3_300_001)]
    assert ledger_sums(live) == (3_300_001, 3_300_001)


def test_refund_and_chargeback_reverse_revenue_in_the_ledger(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    pb = f"{setup.postback}&clickid={cid}&payout=10"
    http.get(pb + "&status=pending")
    assert ledger_sums(live) == (0, 0)
    assert http.get(pb + "&status=approved").text.strip() == "OK updated"
    assert ledger_sums(live) == (10_000_000, 10_000_000)
    assert http.get(pb + "&status=refunded").text.strip() == "OK updated"
    assert ledger_sums(live) == (0, 0)
    with live.runtime.db.session() as s:
        history = s.execute(
            select(
                ConversionStatusChange.from_status,
                ConversionStatusChange.to_status,
                ConversionStatusChange.revenue_delta_micros,
            ).order_by(ConversionStatusChange.id)
        ).all()
    assert [tuple(h) for h in history] == [
        (None, "pending", 0),
        ("pending", "approved", 10_000_000),
        ("approved", "refunded", -10_000_000),
    ]


def test_a_repeat_without_status_keeps_the_current_status(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    pb = f"{setup.postback}&clickid={cid}"
    http.get(pb + "&status=pending")
    assert http.get(pb).text.strip() == "OK duplicate"
    assert state(live)[0][1] == "pending"


@pytest.mark.parametrize("mode", ["ignore", "new_per_txid"])
def test_racing_identical_postbacks_make_one_conversion(live: LiveServer, mode: str) -> None:
    setup = make_setup(live, network={"duplicate_mode": mode})
    with httpx.Client(base_url=live.url) as http:
        cid = click(http, setup)
    url = f"{live.url}{setup.postback}&clickid={cid}&payout=1&txid=T"
    barrier = threading.Barrier(16)

    def fire(_: int) -> str:
        with httpx.Client() as client:
            barrier.wait()
            return client.get(url).text.split()[1]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(fire, range(16)))
    assert sorted(answers) == ["accepted"] + ["duplicate"] * 15
    assert len(state(live)) == 1


def test_the_unique_constraint_decides_between_concurrent_transactions(
    live: LiveServer, http: httpx.Client
) -> None:
    """Two transactions of their own (as two server processes would have) insert the same
    conversion at once: the database lets exactly one through."""
    setup = make_setup(live)
    cid = click(http, setup)
    engine = live.runtime.db.engine
    barrier = threading.Barrier(2, timeout=10)
    now = datetime.now(UTC)

    def insert(n: int) -> bool:
        row = conversion_row(cid, 1, 1, now)
        barrier.wait()
        with engine.begin() as conn:
            return repository.insert_conversion(conn, row)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(insert, [1, 2]))
    assert sorted(results) == [False, True]


def test_repeat_rules_table() -> None:
    base = {"status": "approved", "payout_micros": 5, "commission_micros": 0, "revenue_micros": 5,
            "cost_micros": 0, "terms": CostTerms()}  # fmt: skip
    assert (
        repeat_change(
            "ignore", **base, new_status=None, new_payout_micros=9, new_commission_micros=0
        )
        is None
    )
    change = repeat_change(
        "ignore", **base, new_status="chargeback", new_payout_micros=9, new_commission_micros=0
    )
    assert change is not None
    assert (change.payout_micros, change.revenue_delta) == (5, -5)
    change = repeat_change(
        "accumulate", **base, new_status=None, new_payout_micros=2, new_commission_micros=1
    )
    assert change is not None
    assert (change.payout_micros, change.revenue_delta, change.commission_micros) == (7, 2, 1)
