"""A row the report fold cannot take is skipped alone (ADR 0015): the rest of its slice is
folded, the watermark moves on, the row is named with its error and attempts, reports equal
the raw rows without it and say so, and `refold` folds it once its fault is gone. A database
that is only busy is waited out, never blamed on a row.

The poison is real data, no mock: a click whose tokens are a JSON array, not an object (the
fold reads a click's tokens as a mapping), and the ledger row of a conversion on that click."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, Engine, event, select, text

from postback.kit.db import make_engine
from postback.models import Click, ConversionStatusChange, ReportSkippedRow
from postback.reports import queries
from postback.reports.aggregator import Aggregator
from postback.reports.isolation import is_row_error
from postback.reports.schemas import parse_query
from postback.reports.service import run_report
from tests.conftest import LiveServer, wipe
from tests.reportdata import Config, truth
from tests.test_report_late_rows import BASE, QUERY, add_click, add_conversion, setup_rows

NOW = BASE + timedelta(hours=20)
BY_LANDER = {**QUERY, "group_by": ["lander,campaign"]}  # no rollup: every raw row is read


@pytest.fixture
def engine(server: LiveServer) -> Iterator[Engine]:
    """The server's kind of engine: the fold's savepoints need our SQLite set-up."""
    wipe(server.settings)
    engine = make_engine(server.settings)
    yield engine
    engine.dispose()


def add_rows(engine: Engine, cfg: Config, rng: random.Random, start: Any, n: int) -> list[dict]:
    with engine.begin() as conn:
        rows = [add_click(conn, cfg, rng, start + timedelta(seconds=30 * i)) for i in range(n)]
        for row in rows[::3]:
            terms = cfg.terms[row["campaign_id"]]
            add_conversion(conn, row, row["created_at"] + timedelta(seconds=5), terms, "approved")
    return rows


def add_poison(conn: Connection, cfg: Config, rng: random.Random, at: Any) -> tuple[str, str]:
    """A click the fold cannot take and a conversion on it: (click id, conversion id)."""
    row = add_click(conn, cfg, rng, at)
    conn.execute(Click.__table__.update().where(Click.id == row["id"]).values(tokens=[1, 2]))
    add_conversion(conn, row, at + timedelta(seconds=1), cfg.terms[row["campaign_id"]], "pending")
    conv = conn.execute(
        text("SELECT id FROM conversions WHERE click_id = :c"), {"c": row["id"]}
    ).scalar_one()
    return row["id"], conv


def skipped_rows(engine: Engine) -> dict[tuple[str, str], Any]:
    with engine.connect() as conn:
        rows = conn.execute(select(ReportSkippedRow.__table__)).mappings().all()
    return {(r["kind"], r["row_id"]): r for r in rows}


def ledger_id(engine: Engine, conversion_id: str) -> str:
    with engine.connect() as conn:
        query = select(ConversionStatusChange.id).where(
            ConversionStatusChange.conversion_id == conversion_id
        )
        return str(conn.execute(query).scalar_one())


def report_equals_raw(engine: Engine, params: dict[str, list[str]], left_out: set[str]) -> Any:
    """The report against the raw rows without `left_out`, in one snapshot; the report."""
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        query = parse_query(dict(params), paginate=False)
        report = run_report(conn, query)
        expected_rows, expected_totals = truth(conn, query, left_out)
    got = {tuple(r[d] for d in query.group_by): r for r in report.rows}
    assert set(got) == set(expected_rows)
    for key, want in expected_rows.items():
        assert {k: v for k, v in got[key].items() if k in want} == want, key
    assert report.totals == expected_totals
    return report


def watermark(engine: Engine) -> Any:
    with engine.connect() as conn:
        return queries.read_watermark(conn)


def test_a_poison_row_is_skipped_alone_and_refolded_once_fixed(engine: Engine) -> None:
    cfg, rng = setup_rows(engine)
    start = NOW - timedelta(hours=2)
    good = add_rows(engine, cfg, rng, start, 40)
    with engine.begin() as conn:
        bad_click, bad_conv = add_poison(conn, cfg, rng, start + timedelta(minutes=7, seconds=1))
        # Another click of the poison's visitor, later: it takes the unique click instead.
        again = add_click(conn, cfg, rng, start + timedelta(minutes=9))
        conn.execute(
            Click.__table__.update()
            .where(Click.id == again["id"])
            .values(ip=conn.execute(select(Click.ip).where(Click.id == bad_click)).scalar())
        )
    bad_ledger = ledger_id(engine, bad_conv)
    aggregator = Aggregator(engine, rows=1000)  # one slice holds every row

    aggregator.catch_up(NOW)  # before: AttributeError on every fold, the watermark stuck

    assert watermark(engine) == NOW
    found = skipped_rows(engine)
    assert set(found) == {("click", bad_click), ("ledger", bad_ledger)}
    for row in found.values():
        assert row["attempts"] == 1 and "AttributeError" in row["error"]
    with engine.connect() as conn:  # every other click of the slice is in the rollups
        folded = conn.execute(
            text("SELECT sum(clicks) FROM report_click_campaign WHERE level = 0")
        ).scalar_one()
    assert folded == len(good) + 1
    for params in (QUERY, BY_LANDER):
        report = report_equals_raw(engine, params, {bad_click, bad_conv})
        assert report.skipped_rows == 2

    aggregator.catch_up(NOW + timedelta(minutes=1))  # later folds leave it alone
    assert {k: r["attempts"] for k, r in skipped_rows(engine).items()} == dict.fromkeys(found, 1)

    assert aggregator.refold_skipped() == (0, 2)  # the fault is still there: one more attempt
    assert {k: r["attempts"] for k, r in skipped_rows(engine).items()} == dict.fromkeys(found, 2)

    with engine.begin() as conn:  # the fault removed
        fixed = Click.__table__.update().where(Click.id == bad_click).values(tokens={"zone": "z1"})
        conn.execute(fixed)
    assert aggregator.refold_skipped() == (2, 0)
    assert skipped_rows(engine) == {}
    for params in (QUERY, BY_LANDER):
        assert report_equals_raw(engine, params, set()).skipped_rows == 0


def test_late_rows_go_through_the_same_isolation(engine: Engine) -> None:
    cfg, rng = setup_rows(engine, seed=2)
    add_rows(engine, cfg, rng, NOW - timedelta(hours=1), 10)
    aggregator = Aggregator(engine, rows=1000)
    aggregator.catch_up(NOW)
    with engine.begin() as conn:  # committed after the fold passed their timestamps
        for i in range(5):
            add_click(conn, cfg, rng, NOW - timedelta(seconds=30 + i))
        bad_click, bad_conv = add_poison(conn, cfg, rng, NOW - timedelta(minutes=20))
    aggregator.catch_up(NOW + timedelta(seconds=1))
    assert watermark(engine) == NOW + timedelta(seconds=1)
    assert set(skipped_rows(engine)) == {
        ("click", bad_click),
        ("ledger", ledger_id(engine, bad_conv)),
    }
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM report_late_rows")).scalar_one() == 0
    report_equals_raw(engine, QUERY, {bad_click, bad_conv})


def test_a_busy_database_is_waited_out_not_blamed_on_a_row(
    engine: Engine, server: LiveServer
) -> None:
    """A lock held elsewhere past the lock timeout, while the fold isolates a poison row, fails
    the fold as it is: nothing skipped, the watermark where it was. Once the lock is gone the
    next fold goes on and skips only the poison row."""
    cfg, rng = setup_rows(engine, seed=3)
    add_rows(engine, cfg, rng, NOW - timedelta(hours=1), 6)
    with engine.begin() as conn:
        bad = add_poison(conn, cfg, rng, NOW - timedelta(minutes=30))
    impatient = _impatient_engine(server)
    holder = engine.connect()
    try:
        holding = holder.begin()
        if holder.dialect.name == "postgresql":  # the fold's writes wait; the claim does not
            holder.exec_driver_sql("LOCK TABLE report_click_campaign IN EXCLUSIVE MODE")
        else:  # BEGIN IMMEDIATE took the write lock; write to keep it
            holder.exec_driver_sql("UPDATE report_watermarks SET name = name")
        with pytest.raises(Exception, match="lock") as failed:
            Aggregator(impatient).fold_once(NOW)
        assert not is_row_error(failed.value)
        holding.rollback()
    finally:
        holder.close()
    assert skipped_rows(engine) == {} and watermark(engine) is None
    Aggregator(impatient).catch_up(NOW)
    impatient.dispose()
    assert watermark(engine) == NOW
    assert {key[0] for key in skipped_rows(engine)} == {"click", "ledger"}
    report_equals_raw(engine, QUERY, set(bad))


def _impatient_engine(server: LiveServer) -> Engine:
    """An engine that waits a third of a second for a lock."""
    if server.settings.database_url.startswith("sqlite"):
        engine = make_engine(server.settings)

        @event.listens_for(engine, "connect")
        def short_wait(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA busy_timeout=300")

        return engine
    return make_engine(server.settings, connect_args={"options": "-c lock_timeout=300"})


def test_many_poison_rows_among_good_ones_are_each_skipped(engine: Engine) -> None:
    cfg, rng = setup_rows(engine, seed=4)
    start = NOW - timedelta(hours=3)
    add_rows(engine, cfg, rng, start, 60)
    bad: set[str] = set()
    with engine.begin() as conn:
        for i in range(7):
            bad.update(add_poison(conn, cfg, rng, start + timedelta(minutes=4 * i, seconds=7)))
    Aggregator(engine, rows=25).catch_up(NOW)  # several slices, some with two bad rows
    assert watermark(engine) == NOW
    assert len(skipped_rows(engine)) == 14
    report_equals_raw(engine, QUERY, bad)


def test_the_api_the_page_and_the_cli_say_what_was_left_out(
    live: LiveServer, api: httpx.Client, tmp_path: Any
) -> None:
    from tests.signin import make_user, signed_in_client
    from tests.test_cli import run_cli

    engine = make_engine(live.settings)
    cfg, rng = setup_rows(engine, seed=5)
    add_rows(engine, cfg, rng, NOW - timedelta(hours=1), 5)
    with engine.begin() as conn:
        bad_click, _conv = add_poison(conn, cfg, rng, NOW - timedelta(minutes=30))
    Aggregator(engine).catch_up(NOW)

    params = {"from": "2024-03-07", "to": "2024-03-10", "group_by": "day"}
    body = api.get("/api/v1/reports", params=params).json()
    assert body["skipped_rows"] == 2
    listing = api.get("/api/v1/reports/skipped").json()
    assert listing["skipped_rows"] == 2
    assert {(r["kind"], r["attempts"]) for r in listing["rows"]} == {("click", 1), ("ledger", 1)}
    assert bad_click in {r["row_id"] for r in listing["rows"]}
    assert all("AttributeError" in r["error"] for r in listing["rows"])
    with signed_in_client(live, make_user(live, "viewer")) as viewer:
        page = viewer.get("/reports", params={"from": "2024-03-07", "to": "2024-03-09"})
    assert page.status_code == 200
    assert "2 rows could not be folded" in page.text

    env = {"POSTBACK_DATABASE_URL": live.settings.database_url}
    shown = run_cli("reports", "skipped", "--format", "json", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert bad_click in shown.stdout
    still = run_cli("reports", "refold", cwd=tmp_path, env=env)
    assert still.returncode == 1 and "0 row(s) folded into reports, 2 still fail" in still.stdout
    with engine.begin() as conn:
        conn.execute(Click.__table__.update().where(Click.id == bad_click).values(tokens={}))
    engine.dispose()
    done = run_cli("reports", "refold", cwd=tmp_path, env=env)
    assert done.returncode == 0 and "2 row(s) folded" in done.stdout
    assert api.get("/api/v1/reports", params=params).json()["skipped_rows"] == 0
    assert api.get("/api/v1/reports/skipped").json() == {"skipped_rows": 0, "rows": []}


def test_the_server_refolds_skipped_rows_when_it_starts(engine: Engine) -> None:
    import asyncio

    cfg, rng = setup_rows(engine, seed=6)
    with engine.begin() as conn:
        bad_click, _conv = add_poison(conn, cfg, rng, NOW - timedelta(minutes=30))
    Aggregator(engine).catch_up(NOW)
    assert len(skipped_rows(engine)) == 2
    with engine.begin() as conn:  # the upgrade that fixed it
        conn.execute(Click.__table__.update().where(Click.id == bad_click).values(tokens={}))
    aggregator = Aggregator(engine)
    aggregator.stop()  # run() refolds first, then sees the stop
    thread = threading.Thread(target=asyncio.run, args=(aggregator.run(),))
    thread.start()
    thread.join(timeout=30)
    assert skipped_rows(engine) == {}
    report_equals_raw(engine, QUERY, set())


def test_a_value_a_rollup_column_refuses_is_skipped_and_its_piece_rolled_back(
    engine: Engine,
) -> None:
    """PostgreSQL refuses a bigint sum past 2^63 - 1 (SQLite turns it into a real number, which
    the money limits keep out on the way in): the click that pushes a rollup row past it fails
    alone, in the database, and its piece's writes are undone with its savepoint."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not refuse an integer sum past 64 bits")
    cfg, rng = setup_rows(engine, seed=7)
    start = NOW - timedelta(hours=1)
    add_rows(engine, cfg, rng, start, 8)
    with engine.begin() as conn:
        big = [add_click(conn, cfg, rng, start + timedelta(seconds=17 + i)) for i in range(2)]
        for row in big:
            values = {"cost_micros": 2**63 - 10, "campaign_id": big[0]["campaign_id"]}
            conn.execute(Click.__table__.update().where(Click.id == row["id"]).values(**values))
    Aggregator(engine, rows=1000).catch_up(NOW)
    assert watermark(engine) == NOW
    found = skipped_rows(engine)
    assert set(found) == {("click", big[1]["id"])}
    assert "out of range" in found[("click", big[1]["id"])]["error"]
    report_equals_raw(engine, QUERY, {big[1]["id"]})
