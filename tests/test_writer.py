"""The group-commit writer on a real database: batches, a failing write, a lost connection."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import Connection, Engine, create_engine, func, select, text

from postback.clicks.repository import ClickRows
from postback.config import Settings
from postback.kit import writer as writer_module
from postback.kit.db import BUSY_TIMEOUT_MS, Database, WalCheckpointer, make_engine
from postback.kit.ids import new_click_id
from postback.kit.migrate import upgrade
from postback.kit.writer import GroupCommitWriter
from postback.models import Click
from tests.conftest import scratch_database

T = TypeVar("T")


@pytest.fixture
def engine(database_url: str, tmp_path: Any) -> Iterator[Engine]:
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    with scratch_database(kind, tmp_path) as url:
        settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
        upgrade(settings)
        engine = make_engine(settings)
        yield engine
        engine.dispose()


def click_row(**extra: Any) -> dict[str, Any]:
    return {
        "id": new_click_id(),
        "created_at": datetime.now(UTC),
        "campaign_id": 1,
        "offer_id": 1,
        "traffic_source_id": 1,
        "ip": "203.0.113.9",
        "user_agent": "test",
        "referrer": None,
        "language": "en",
        "country": "DE",
        "device": "desktop",
        "os": "Linux",
        "browser": "Firefox",
        "external_id": None,
        "tokens": {"zone": "7"},
        "cost_micros": 0,
        "is_test": False,
        "flags": 0,
        "lander_id": None,
        **extra,
    }


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Click)) or 0)


def run(writer: GroupCommitWriter, submit: Any) -> list[Any]:
    async def main() -> list[Any]:
        writer.start()
        try:
            return list(await asyncio.gather(*submit(), return_exceptions=True))
        finally:
            writer.stop()

    return asyncio.run(main())


def test_a_failing_job_fails_alone_and_the_rest_of_its_batch_commits(engine: Engine) -> None:
    writer = GroupCommitWriter(engine, ClickRows())

    def broken(conn: Connection) -> None:
        conn.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")

    def submit() -> list[Any]:
        futures = [writer.insert_row(click_row()) for _ in range(20)]
        return [*futures[:10], writer.run_job(broken), *futures[10:]]

    results = run(writer, submit)

    assert [type(r).__name__ for r in results].count("NoneType") == 20
    assert isinstance(results[10], Exception)
    assert stored(engine) == 20


def test_the_writer_gets_a_new_connection_after_losing_its_own(engine: Engine) -> None:
    """The writer keeps one connection between batches; a database restart or an idle
    timeout kills it. The next writes must still be stored, not fail for good."""
    writer = GroupCommitWriter(engine, ClickRows())
    first = click_row()

    async def main() -> list[Any]:
        writer.start()
        try:
            await writer.insert_row(first)
            await asyncio.get_running_loop().run_in_executor(None, _kill_writer_connection, writer)
            return list(
                await asyncio.gather(
                    *[writer.insert_row(click_row()) for _ in range(5)], return_exceptions=True
                )
            )
        finally:
            writer.stop()

    results = asyncio.run(main())

    assert results == [None] * 5
    assert stored(engine) == 6


def _kill_writer_connection(writer: GroupCommitWriter) -> None:
    conn = writer._conn  # the connection the writer keeps between batches
    assert conn is not None
    if conn.dialect.name == "postgresql":
        pid = conn.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
        killer = create_engine(conn.engine.url)
        with killer.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        killer.dispose()
    else:
        # SQLite has no server to lose; closing the file handle under the writer is the
        # nearest thing (the next statement on it raises ProgrammingError).
        conn.connection.driver_connection.close()  # type: ignore[union-attr]


def test_sqlite_writes_wait_for_a_held_write_lock_without_freezing_the_event_loop(
    engine: Engine,
) -> None:
    """Another connection (the report fold, the admin API) holds SQLite's write lock: the
    batch waits on the writer's thread, never on the event loop, and is stored afterwards."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock")
    writer = GroupCommitWriter(engine, ClickRows())
    blocker = engine.raw_connection()
    blocker.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]

    async def main() -> tuple[list[Any], int, int]:
        writer.start()
        loop = asyncio.get_running_loop()
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        try:
            writes = asyncio.gather(*[writer.insert_row(click_row()) for _ in range(10)])
            await asyncio.sleep(0.3)
            # A plain engine reads without our BEGIN IMMEDIATE, so it does not queue for the lock.
            reader = create_engine(engine.url)
            stored_while_locked = await loop.run_in_executor(None, stored, reader)
            reader.dispose()
            ticks_while_locked = ticks
            blocker.driver_connection.rollback()  # type: ignore[union-attr]
            return list(await writes), stored_while_locked, ticks_while_locked
        finally:
            ticker.cancel()
            writer.stop()

    try:
        results, stored_while_locked, ticks = asyncio.run(main())
    finally:
        blocker.close()

    assert stored_while_locked == 0
    assert ticks >= 10  # the loop kept turning while the batch waited for the lock
    assert results == [None] * 10
    assert stored(engine) == 10


def test_the_writers_connection_goes_back_to_the_pool_waiting_for_locks_again(
    database_url: str, tmp_path: Any
) -> None:
    """On SQLite the writer's connection does not wait for the write lock (busy timeout 0);
    a request that gets it from the pool afterwards must wait as every connection does."""
    if not database_url.startswith("sqlite"):
        pytest.skip("busy timeouts are SQLite's")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    engine = make_engine(settings, pool_size=1, max_overflow=0)  # one connection to hand round

    async def main() -> None:
        writer = GroupCommitWriter(engine, ClickRows())
        writer.start()
        await writer.insert_row(click_row())
        writer.stop()

    asyncio.run(main())
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
    engine.dispose()


def test_sqlite_writes_get_in_between_another_writer_that_keeps_taking_the_lock(
    engine: Engine,
) -> None:
    """The report fold takes SQLite's write lock slice after slice with hardly a gap. The
    writer must find those gaps, not wait until the fold has caught up."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock")
    stop = threading.Event()

    def greedy() -> None:  # 50 ms holding the lock, ~1 ms not, for up to 5 s
        raw = engine.raw_connection()
        deadline = time.monotonic() + 5
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                raw.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
                time.sleep(0.05)
                raw.driver_connection.execute("COMMIT")  # type: ignore[union-attr]
                time.sleep(0.001)
        finally:
            raw.close()

    rival = threading.Thread(target=greedy)
    rival.start()
    time.sleep(0.1)
    writer = GroupCommitWriter(engine, ClickRows())

    async def main() -> float:
        writer.start()
        started = time.monotonic()
        try:
            await asyncio.gather(*[writer.insert_row(click_row()) for _ in range(10)])
            return time.monotonic() - started
        finally:
            writer.stop()

    try:
        took = asyncio.run(main())
    finally:
        stop.set()
        rival.join()
    assert stored(engine) == 10
    assert took < 2.5


def test_sustained_writes_let_the_sqlite_wal_start_over(
    database_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the WAL is SQLite's")
    monkeypatch.setattr(WalCheckpointer, "INTERVAL", 0.02)
    monkeypatch.setattr(WalCheckpointer, "RESET_FRAMES", 300)
    path = tmp_path / "wal.db"
    settings = Settings(database_url=f"sqlite:///{path}", _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    db = Database(settings, own_checkpoints=True)
    writer = GroupCommitWriter(db.engine, ClickRows())
    assert db.checkpointer is not None
    db.checkpointer.on_large_wal = writer.request_checkpoint
    wal = tmp_path / "wal.db-wal"

    async def main() -> tuple[int, int]:
        writer.start()
        written, largest = 0, 0
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:  # a batch right after the other, as under load
                await asyncio.gather(*(writer.insert_row(click_row()) for _ in range(50)))
                written += 50
                largest = max(largest, wal.stat().st_size)
        finally:
            writer.stop()
        return written, largest

    written, largest = asyncio.run(main())
    try:
        assert writer.checkpoints >= 1
        # 3 s of back-to-back batches wrote many times 300 frames; the WAL kept starting over.
        assert largest < 4 * 300 * 4120, largest
        assert stored(db.engine) == written
    finally:
        db.dispose()


def gathering_writer(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, wait: float
) -> GroupCommitWriter:
    """A writer whose small batches wait up to `wait` seconds for more."""
    monkeypatch.setattr(writer_module, "GATHER_WAIT", wait)
    return GroupCommitWriter(engine, ClickRows())


def drive(writer: GroupCommitWriter, body: Callable[[], Awaitable[T]]) -> T:
    """Run `body` on a fresh event loop with the writer started, and stop the writer after."""

    async def main() -> T:
        writer.start()
        try:
            return await body()
        finally:
            writer.stop()

    return asyncio.run(main())


def test_a_write_right_after_a_large_batch_waits_for_the_rest_of_a_closed_loop(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a closed loop of connections the writes one commit answered come back together.
    A lone write that arrives first waits for half of them, so they share one commit instead
    of a commit of 1 and another of the rest."""
    writer = gathering_writer(engine, monkeypatch, 5.0)  # only the 20th write ends the wait

    async def body() -> tuple[int, float]:
        await asyncio.gather(*(writer.insert_row(click_row()) for _ in range(40)))
        before = writer.batches
        lone = writer.insert_row(click_row())
        for _ in range(5):  # without the wait, the writer would take the lone write now
            await asyncio.sleep(0)
        began = time.monotonic()
        rest = [writer.insert_row(click_row()) for _ in range(19)]
        await asyncio.gather(lone, *rest)
        return writer.batches - before, time.monotonic() - began

    batches, took = drive(writer, body)

    assert batches == 1
    assert took < 2.5  # ended by reaching half of the last batch, not by the time limit
    assert stored(engine) == 60


def test_a_lone_write_after_a_large_batch_waits_no_longer_than_the_limit(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = gathering_writer(engine, monkeypatch, 0.2)

    async def body() -> float:
        await asyncio.gather(*(writer.insert_row(click_row()) for _ in range(40)))
        began = time.monotonic()
        await writer.insert_row(click_row())  # the other 19 never come
        return time.monotonic() - began

    took = drive(writer, body)

    assert 0.15 <= took < 2.0
    assert writer.gathers >= 1
    assert stored(engine) == 41


def test_light_traffic_and_the_first_write_after_a_pause_commit_at_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = gathering_writer(engine, monkeypatch, 0.3)

    async def body() -> tuple[float, float]:
        began = time.monotonic()
        for _ in range(5):  # one write at a time: every batch is small, none waits
            await writer.insert_row(click_row())
        one_by_one = time.monotonic() - began
        await asyncio.gather(*(writer.insert_row(click_row()) for _ in range(40)))
        await asyncio.sleep(0.6)  # a pause: the writer stops waiting and goes idle
        began = time.monotonic()
        await writer.insert_row(click_row())
        return one_by_one, time.monotonic() - began

    one_by_one, after_pause = drive(writer, body)

    assert one_by_one < 1.0  # five waits would take 1.5 s
    assert after_pause < 0.25  # a wait would take 0.3 s
    assert stored(engine) == 46


def test_a_lock_held_elsewhere_fails_the_batch_soon_and_writes_none_of_it(engine: Engine) -> None:
    """A lock another transaction holds for long (12 s in the field) stalled the writer, and
    the clicks it held back committed too late for reports. Now the batch fails after the lock
    timeout: its writes get an error (503 to the client, who retries), none of it is written,
    and the writes after it go on."""
    writer = GroupCommitWriter(engine, ClickRows(), lock_timeout=0.3, statement_timeout=2)
    holder = engine.connect()
    transaction = holder.begin()  # on SQLite: BEGIN IMMEDIATE, the write lock
    if holder.dialect.name == "postgresql":
        holder.exec_driver_sql("LOCK TABLE clicks IN EXCLUSIVE MODE")
    release = threading.Timer(4, transaction.rollback)
    release.start()
    try:
        started = time.monotonic()
        results = run(writer, lambda: [writer.insert_row(click_row()) for _ in range(4)])
        elapsed = time.monotonic() - started
    finally:
        release.join()
        holder.close()
    assert elapsed < 2.5
    assert all(isinstance(r, Exception) for r in results), results
    assert stored(engine) == 0
    assert run(writer, lambda: [writer.insert_row(click_row())]) == [None]
    assert stored(engine) == 1
