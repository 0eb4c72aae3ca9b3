"""Reports equal the raw rows whatever the commit delay and the servers' clocks (ADR 0013).

A row stamped before the watermark but committed after the fold that passed its timestamp (a
postback body that trickled in, a batch behind a lock held elsewhere, a server whose clock is
behind) is named in report_late_rows by a trigger and folded by the next fold."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, create_engine, select, text

from postback.conversions.ledger import CostTerms, recognised_revenue
from postback.kit.db import make_engine, normalize_url
from postback.kit.ids import new_id
from postback.models import Click, Conversion, ConversionStatusChange
from postback.reports.aggregator import Aggregator
from tests.conftest import LiveServer, wipe
from tests.factories import click, make_setup
from tests.reportdata import STATUSES, Config, _click, click_id_at, make_config
from tests.test_reports import _compare

BASE = datetime(2024, 3, 8, 6, tzinfo=UTC)
QUERY = {
    "group_by": ["day,campaign"],
    "count_by": ["both"],
    "include_test": ["true"],
    "from": ["2024-03-07"],
    "to": ["2024-03-10"],
}


@pytest.fixture
def engine(server: LiveServer) -> Iterator[Engine]:
    wipe(server.settings)
    engine = create_engine(normalize_url(server.settings.database_url))
    yield engine
    engine.dispose()


def add_click(conn: Connection, cfg: Config, rng: random.Random, at: datetime) -> dict[str, Any]:
    row = _click(cfg, rng, at, 1)
    row["created_at"] = at
    row["id"] = click_id_at(at, rng)
    conn.execute(Click.__table__.insert(), [row])
    return row


def add_conversion(
    conn: Connection, clicked: dict[str, Any], at: datetime, terms: CostTerms, status: str
) -> None:
    """A conversion of `clicked` with one ledger row, both stamped `at`."""
    conv_id, payout = new_id(), 1_500_000
    revenue = recognised_revenue(status, payout)
    cost = terms.cost(status, revenue)
    conn.execute(
        Conversion.__table__.insert().values(
            id=conv_id, click_id=clicked["id"], dedupe_key=conv_id, created_at=at, updated_at=at,
            click_at=clicked["created_at"], campaign_id=clicked["campaign_id"],
            offer_id=clicked["offer_id"], network_id=None,
            traffic_source_id=clicked["traffic_source_id"], event="conversion", txid=None,
            status=status, payout_micros=payout, revenue_micros=revenue, cost_micros=cost,
            commission_micros=0, original_amount="1", original_currency="USD", fx_rate="1",
            fx_date=None, params={}, is_test=clicked["is_test"],
        )
    )  # fmt: skip
    conn.execute(
        ConversionStatusChange.__table__.insert().values(
            conversion_id=conv_id, at=at, from_status=None, to_status=status,
            payout_delta_micros=payout, revenue_delta_micros=revenue, cost_delta_micros=cost,
        )
    )  # fmt: skip


def setup_rows(engine: Engine, seed: int = 1) -> tuple[Config, random.Random]:
    rng = random.Random(seed)
    with engine.begin() as conn:
        return make_config(conn), rng


def check(engine: Engine) -> None:
    with engine.connect() as conn:
        _compare(conn, dict(QUERY))
        assert conn.execute(text("SELECT count(*) FROM report_late_rows")).scalar_one() == 0


def folded_clicks(engine: Engine) -> int:
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT sum(clicks) FROM report_click_campaign WHERE level = 0")
        ).scalar_one()
        return int(found or 0)


@pytest.mark.parametrize(
    "late", [timedelta(seconds=11.5), timedelta(seconds=15), timedelta(hours=7)]
)
def test_a_row_committed_after_a_fold_passed_it_is_folded_by_the_next(
    engine: Engine, late: timedelta
) -> None:
    """11.5 s: a postback body that came late; 15 s: a server whose clock is behind; 7 h: a
    row of an earlier UTC day, whose visitors are no longer kept."""
    cfg, rng = setup_rows(engine)
    now = BASE + timedelta(hours=20)
    with engine.begin() as conn:
        first = add_click(conn, cfg, rng, now - timedelta(minutes=5))
        add_conversion(
            conn, first, now - timedelta(minutes=4), cfg.terms[first["campaign_id"]], "approved"
        )
    aggregator = Aggregator(engine, rows=7)
    aggregator.catch_up(now)
    with engine.begin() as conn:  # stamped before the watermark, committed after the fold
        again = add_click(conn, cfg, rng, now - late)
        again["ip"] = first["ip"]
        add_click(conn, cfg, rng, now - late - timedelta(seconds=1))
        add_conversion(conn, again, now - late, cfg.terms[again["campaign_id"]], "pending")
        add_conversion(conn, first, now - late, cfg.terms[first["campaign_id"]], "approved")
    assert folded_clicks(engine) == 1
    aggregator.catch_up(now + timedelta(seconds=1))
    assert folded_clicks(engine) == 3
    check(engine)


def test_a_fold_waits_for_a_writer_that_read_the_old_claim(engine: Engine) -> None:
    """A transaction that inserted a click (a batch held up by a lock elsewhere) is still open
    while a fold passes the click's timestamp: the claim waits for it, so the fold sees it."""
    cfg, rng = setup_rows(engine)
    now = BASE + timedelta(hours=1)
    Aggregator(engine).catch_up(now - timedelta(minutes=1))
    writer = engine.connect()
    transaction = writer.begin()
    add_click(writer, cfg, rng, now - timedelta(seconds=12))
    done = threading.Event()

    def fold() -> None:
        Aggregator(engine).catch_up(now)
        done.set()

    thread = threading.Thread(target=fold)
    thread.start()
    time.sleep(2)  # time for the fold to pass the click, had it not waited
    assert not done.is_set()  # the claim waits for the open writer
    transaction.commit()  # 12 s late in the real case
    writer.close()
    thread.join(timeout=20)
    assert done.is_set()
    Aggregator(engine).catch_up(now + timedelta(seconds=1))
    assert folded_clicks(engine) == 1
    check(engine)


def test_a_fold_waits_for_a_writer_that_found_no_watermark_row(engine: Engine) -> None:
    """The watermark row is gone (the tables were wiped): a click's trigger then has no row to
    lock and no claim to compare with. The claim that makes the row again must wait for that
    writer, or the fold passes the click before it commits and no entry names it."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM report_watermarks"))
    cfg, rng = setup_rows(engine)
    writer = engine.connect()
    transaction = writer.begin()
    add_click(writer, cfg, rng, BASE - timedelta(seconds=5))
    done = threading.Event()

    def fold() -> None:
        Aggregator(engine).catch_up(BASE)
        done.set()

    thread = threading.Thread(target=fold)
    thread.start()
    time.sleep(1)  # time for the fold to pass the click, had it not waited
    waited = not done.is_set()
    transaction.commit()
    writer.close()
    thread.join(timeout=20)
    assert done.is_set()
    Aggregator(engine).catch_up(BASE + timedelta(minutes=1))
    assert folded_clicks(engine) == 1
    assert waited  # the claim waited for the open writer
    check(engine)


def test_two_aggregators_racing_with_late_rows_never_double_count(
    engine: Engine, server: LiveServer
) -> None:
    cfg, rng = setup_rows(engine)
    stop = threading.Event()
    clock = [BASE]
    errors: list[BaseException] = []

    def aggregate() -> None:
        aggregator = Aggregator(make_engine(server.settings), rows=5)
        try:
            while not stop.is_set():
                aggregator.catch_up(clock[0])
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            aggregator.engine.dispose()

    threads = [threading.Thread(target=aggregate) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(60):
            clock[0] += timedelta(seconds=3)
            with engine.begin() as conn:
                clicked = add_click(conn, cfg, rng, clock[0] - timedelta(seconds=rng.randrange(20)))
                if rng.random() < 0.5:
                    at = clock[0] - timedelta(seconds=rng.randrange(20))
                    terms = cfg.terms[clicked["campaign_id"]]
                    add_conversion(conn, clicked, at, terms, rng.choice(STATUSES))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors
    Aggregator(engine).catch_up(clock[0] + timedelta(minutes=1))
    check(engine)


# Each step: ("click" | "conversion", seconds before the clock it is stamped), or ("fold",
# seconds the fold's target trails the clock: a negative one is a server whose clock is ahead),
# or ("tick", seconds the clock moves on).
STEPS = st.one_of(
    st.tuples(st.sampled_from(["click", "conversion"]), st.integers(0, 40)),
    st.tuples(st.just("fold"), st.integers(-20, 20)),
    st.tuples(st.just("tick"), st.integers(1, 30)),
)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(seed=st.integers(0, 2**32), steps=st.lists(STEPS, max_size=40), rows=st.integers(1, 6))
def test_reports_equal_raw_rows_whatever_the_commit_delay(
    server: LiveServer, seed: int, steps: list[tuple[str, int]], rows: int
) -> None:
    wipe(server.settings)
    engine = create_engine(normalize_url(server.settings.database_url))
    try:
        cfg, rng = setup_rows(engine, seed)
        aggregator = Aggregator(engine, rows=rows)
        clock = BASE + timedelta(hours=23, minutes=59)  # across a UTC midnight
        clicks: list[dict[str, Any]] = []
        for kind, seconds in steps:
            if kind == "tick":
                clock += timedelta(seconds=seconds)
            elif kind == "fold":
                aggregator.fold_once(clock - timedelta(seconds=seconds))
            else:
                with engine.begin() as conn:
                    at = clock - timedelta(seconds=seconds)
                    if kind == "click" or not clicks:
                        clicks.append(add_click(conn, cfg, rng, at))
                    else:
                        clicked = rng.choice(clicks)
                        terms = cfg.terms[clicked["campaign_id"]]
                        add_conversion(conn, clicked, at, terms, rng.choice(STATUSES))
        aggregator.catch_up(clock + timedelta(seconds=41))
        check(engine)
    finally:
        engine.dispose()


def test_a_postback_is_stamped_when_its_body_is_in(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    body = f"clickid={cid}&payout=1&token={setup.token}".encode()
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST /postback/{setup.network_key} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        )
        time.sleep(1.5)  # 11.5 s in the report: the headers long before the body
        sent = datetime.now(UTC)
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert b" 200 " in answer.split(b"\r\n")[0], answer
    with live.runtime.db.session() as s:
        [conv] = s.scalars(select(Conversion)).all()
        [change] = s.scalars(select(ConversionStatusChange)).all()
    assert conv.created_at >= sent - timedelta(milliseconds=5)
    assert change.at == conv.created_at


def test_more_late_rows_than_a_fold_reads_are_each_folded_once(engine: Engine) -> None:
    """More late entries wait than one fold reads (ROWS), and one of the unread ones names a
    row inside the range that fold covers: the range folds it, and its entry must not make a
    later fold take it again. catch_up also goes on until no late entry is left."""
    cfg, rng = setup_rows(engine)
    now = BASE + timedelta(hours=2)
    with engine.begin() as conn:
        for minute in range(1, 7):  # ahead of the watermark, stamped before the claim below
            add_click(conn, cfg, rng, now + timedelta(minutes=minute))
    aggregator = Aggregator(engine, rows=2)
    aggregator.catch_up(now)
    aggregator.fold_once(now + timedelta(minutes=10))  # claims +10 min, folds only 2 clicks
    with engine.begin() as conn:
        for seconds in (50, 40, 30, 20):  # late: before the watermark
            add_click(conn, cfg, rng, now - timedelta(seconds=seconds))
        # Stamped after the watermark but before the claim: late too, in the next range, and
        # its entry sorts after the four above, so the next fold does not read it.
        inside = add_click(conn, cfg, rng, now + timedelta(minutes=4, seconds=30))
        add_conversion(
            conn, inside, now + timedelta(minutes=5), cfg.terms[inside["campaign_id"]], "approved"
        )
    with engine.connect() as conn:
        waiting = conn.execute(text("SELECT count(*) FROM report_late_rows")).scalar_one()
    assert waiting == 6  # 5 clicks and the ledger row
    aggregator.catch_up(now + timedelta(minutes=10))
    assert folded_clicks(engine) == 11
    check(engine)
