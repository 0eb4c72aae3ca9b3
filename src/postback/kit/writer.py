"""Group commit: many concurrent requests, one transaction, one fsync.

Requests hand a write to the writer and await its future. The writer takes everything queued
(up to a batch limit), runs it in one transaction, commits, and only then resolves the futures,
so a request answers only after its row is durable. Under load a single fsync covers dozens of
clicks; when idle a write commits alone at once (no timer, no added latency). While one batch
commits, the next one gathers.

Where the work runs: the commit waits for the disk, so it always runs on the writer's own
thread. On SQLite the rest of the transaction (BEGIN, inserts, jobs) runs on the event loop
itself: those statements never wait for anything but the CPU, and running them on a second
thread only made the two threads pass the interpreter lock back and forth several times per
batch, which cost more CPU than the inserts. The BEGIN there does not wait for the write lock:
when another connection holds it (the report fold, the admin API), the batch goes to the
thread, which waits for the lock as long as the busy timeout allows. On PostgreSQL every
statement is a round trip to the server, so the whole transaction runs on the thread.

A batch that would be small next to the one just committed waits a moment for more
(`_gather`): under a closed loop of connections (a load generator, a busy proxy's pool) the
requests a commit answered come back together, and without the wait the writer fell into
alternating batches of 63 and 1, a whole commit (its fsync and fixed cost, about 350 us of CPU)
spent on a single row while the rest waited. Light traffic never waits: its batches are small.

Rows of one table (clicks) are inserted with one statement. Other writes are jobs: functions
of a connection, run one after the other in the batch's transaction. If a job raises, the batch
is rolled back and every write is re-run in a transaction of its own, so one bad write fails
alone.

No batch waits for ever: the writer's connection has a lock timeout (PostgreSQL's lock_timeout,
the wait for SQLite's write lock) and, on PostgreSQL, a statement timeout. A batch that runs
into one is rolled back, so nothing of it is written or acknowledged (its requests answer 503
and are retried); its writes re-run alone share one more lock timeout in all, so a lock held
elsewhere costs the writer at most about two timeouts, not one per write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, RootTransaction

from postback.kit.db import BUSY_TIMEOUT_MS, wal_checkpoint
from postback.kit.threads import WorkerThread

log = logging.getLogger("postback.writer")

Job = Callable[[Connection], Any]
# Writes rows of one table, all at once (kit/rows.py's DriverInsert is one).
RowSink = Callable[[Connection, list[Any]], None]
# Rows that jobs hand to `insert_later`, written by one call of their sink per table at the end
# of the batch, still inside its transaction: the append-only rows of many postbacks (ledger,
# log, outbox) cost one round trip per table instead of one per postback.
DEFERRED = "postback.deferred_inserts"
SCRATCH = "postback.batch_scratch"
# A batch smaller than half the last one waits for more, for at most this long (seconds) ...
GATHER_WAIT = 0.001
# ... unless the last batch was smaller than this: light traffic commits at once.
GATHER_FROM = 8


@dataclass(slots=True)
class _Item:
    future: asyncio.Future[Any]
    row: dict[str, Any] | None = None
    job: Job | None = None
    result: Any = None
    error: BaseException | None = field(default=None)


class GroupCommitWriter:
    def __init__(
        self,
        engine: Engine,
        write_rows: RowSink,
        max_batch: int = 512,
        lock_timeout: float = BUSY_TIMEOUT_MS / 1000,
        statement_timeout: float = 2 * BUSY_TIMEOUT_MS / 1000,
    ) -> None:
        self._engine = engine
        self._write_rows = write_rows
        self._max_batch = max_batch
        self._lock_timeout = lock_timeout
        self._statement_timeout = statement_timeout
        self._sqlite = engine.dialect.name == "sqlite"
        self._pending: list[_Item] = []
        self._draining = False
        self._thread: WorkerThread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: Connection | None = None
        self.batches = 0
        self.items = 0
        self.checkpoints = 0
        self.gathers = 0
        self._checkpoint_wanted = False
        self._last_size = 0
        self._wanted = 0  # while gathering: how many pending writes end the wait
        self._enough: asyncio.Future[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = WorkerThread(self._loop, name="group-commit")

    def stop(self) -> None:
        """Write whatever is still queued, wait for the commit in flight, close the connection."""
        if self._thread is None:
            return
        if self._enough is not None:
            _settle(self._enough)
        if self._pending:
            batch, self._pending = self._pending, []
            self._thread.call_blocking(self._write, batch)
            _resolve(batch)
        self._thread.call_blocking(self._close)
        self._thread.stop()
        self._thread = None

    def request_checkpoint(self) -> None:
        """Run a WAL checkpoint between two batches (SQLite; any thread may ask): with no
        commit beside it, it can copy the whole WAL, so the WAL can start over (kit/db.py)."""
        self._checkpoint_wanted = True

    def insert_row(self, row: dict[str, Any]) -> asyncio.Future[Any]:
        """Queue one row of the writer's table; the future resolves once it is committed."""
        return self._submit(_Item(self._new_future(), row=row))

    def run_job(self, job: Job) -> asyncio.Future[Any]:
        """Queue a job; the future resolves to its return value once the batch is committed."""
        return self._submit(_Item(self._new_future(), job=job))

    def _new_future(self) -> asyncio.Future[Any]:
        assert self._loop is not None, "writer not started"
        return self._loop.create_future()

    def _submit(self, item: _Item) -> asyncio.Future[Any]:
        self._pending.append(item)
        if self._enough is not None and len(self._pending) >= self._wanted:
            _settle(self._enough)
        if not self._draining:
            # Started on the next turn of the loop, so that everything submitted in this turn
            # (all the requests one read from the sockets brought) joins the same batch.
            self._draining = True
            assert self._loop is not None
            self._loop.create_task(self._drain())
        return item.future

    def _take(self) -> list[_Item]:
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        self.batches += 1
        self.items += len(batch)
        return batch

    async def _drain(self) -> None:
        assert self._loop is not None and self._thread is not None
        ahead: list[_Item] = []  # the next batch, its reads done while this one commits
        try:
            while True:
                if not ahead:
                    await self._gather()
                    if not self._pending:  # nothing came (or stop() wrote it): idle
                        break
                if self._checkpoint_wanted and self._sqlite:
                    self._checkpoint_wanted = False
                    await self._thread.call(self._checkpoint)
                batch, ahead = (ahead or self._take()), []
                self._last_size = len(batch)
                try:
                    transaction = self._begin_here(batch) if self._sqlite else None
                    if transaction is not None:
                        committed = self._thread.call(self._commit, transaction, batch)
                        if _reads_ahead(self._pending):
                            # The disk is busy with this commit and the CPU would idle: the
                            # next batch's jobs do their reads and checks meanwhile. (Rows
                            # have nothing to read; they wait, so that their batch also takes
                            # what arrives during the commit.)
                            ahead = self._take()
                            _read_ahead([item.job for item in ahead if item.job is not None])
                        await committed
                    else:
                        await self._thread.call(self._write, batch)
                except Exception as exc:
                    # Not known to be committed: no write of this batch may be acknowledged.
                    log.exception("batch of %d not written", len(batch))
                    for item in batch:
                        item.error = item.error or exc
                except BaseException as exc:  # cancelled: the loop is going away
                    for item in batch:
                        item.error = item.error or exc
                    raise
                finally:
                    _resolve(batch)
                # Let the requests of this batch answer before the next batch's statements
                # take the loop.
                await asyncio.sleep(0)
        finally:
            self._pending[:0] = ahead  # cancelled mid-way: not lost, the next drain takes them
            self._draining = False
            self._last_size = 0  # after a pause, the first write commits at once

    async def _gather(self) -> None:
        """Wait up to GATHER_WAIT for the pending writes to reach half the last batch (a
        closed loop's other half: see the module's docstring)."""
        wanted = self._last_size // 2
        if self._last_size < GATHER_FROM or len(self._pending) >= wanted:
            return
        assert self._loop is not None
        self.gathers += 1
        self._wanted, self._enough = wanted, self._loop.create_future()
        timer = self._loop.call_later(GATHER_WAIT, _settle, self._enough)
        try:
            await self._enough
        finally:
            timer.cancel()
            self._enough = None

    # --- on the event loop (SQLite) ---

    def _begin_here(self, batch: list[_Item]) -> RootTransaction | None:
        """BEGIN without waiting and run the batch's statements; the open transaction, or None
        when the write lock is taken or a write failed (the thread then does the batch)."""
        conn = self._connection()
        try:
            conn.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
        except sqlite3.OperationalError:  # "database is locked": someone else is writing
            return None
        except Exception:
            self._drop_connection()
            return None
        try:
            transaction = conn.begin()  # adopts the open transaction (see kit/db.py on_begin)
        except Exception:
            self._drop_connection()
            return None
        try:
            self._apply(conn, batch)
        except Exception:
            with contextlib.suppress(Exception):
                transaction.rollback()
            for item in batch:
                item.error = item.result = None
            return None
        return transaction

    # --- on the writer's thread ---

    def _commit(self, transaction: RootTransaction, batch: list[_Item]) -> None:
        try:
            transaction.commit()
        except Exception:
            log.warning("commit of a batch of %d failed, writing it again", len(batch))
            self._drop_connection()
            for item in batch:
                item.error = item.result = None
            self._write(batch)

    def _write(self, batch: list[_Item]) -> None:
        try:
            self._transaction(batch)
            return
        except Exception as exc:
            if len(batch) == 1:
                log.exception("write failed")
                batch[0].error = batch[0].error or exc
                return
            log.warning("batch of %d failed, retrying each write alone", len(batch))
            timed_out = exc if _timed_out(exc) else None
        # After a lock or statement timeout the writes alone get one more timeout in all: a
        # lock held elsewhere would otherwise stall the writer one timeout per write.
        deadline = time.monotonic() + self._lock_timeout
        for item in batch:
            item.error = None
            if timed_out is not None and time.monotonic() > deadline:
                item.error = timed_out
                continue
            try:
                self._transaction([item])
            except Exception as exc:
                log.exception("write failed")
                item.error = exc
                if timed_out is None and _timed_out(exc):
                    timed_out = exc

    def _transaction(self, batch: list[_Item]) -> None:
        conn = self._connection()
        try:
            if self._sqlite:
                # Unlike the event loop, this thread may wait for the lock.
                _begin_waiting(conn, self._lock_timeout)
            with conn.begin():  # on SQLite: adopts the transaction just begun
                self._apply(conn, batch)
        except Exception:
            self._drop_connection()
            raise

    def _checkpoint(self) -> None:
        try:
            wal_checkpoint(self._connection().connection.driver_connection)
            self.checkpoints += 1
        except Exception:  # a checkpoint is housekeeping: the batches go on without it
            log.exception("WAL checkpoint between batches failed")
            self._drop_connection()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                if self._sqlite:  # back to the pool as every other connection is: waiting
                    _busy_timeout(conn, BUSY_TIMEOUT_MS)
                else:  # not back to the pool with the writer's timeouts
                    conn.invalidate()
                conn.close()

    # --- either ---

    def _connection(self) -> Connection:
        # The writer keeps one connection instead of taking one from the pool per batch: a
        # checkout (and on PostgreSQL its pre-ping round trip) cost more than a batch of
        # clicks. After any failure the connection is dropped, so the next transaction
        # starts on a fresh one, as a pool checkout would.
        if self._conn is None:
            conn = self._engine.connect()
            if self._sqlite:
                _busy_timeout(conn, 0)
            else:
                with conn.begin():  # committed: a SET in a rolled-back transaction is undone
                    conn.exec_driver_sql(
                        f"SET lock_timeout = {int(self._lock_timeout * 1000)}; "
                        f"SET statement_timeout = {int(self._statement_timeout * 1000)}"
                    )
            self._conn = conn
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()

    def _apply(self, conn: Connection, batch: list[_Item]) -> None:
        rows = [item.row for item in batch if item.row is not None]
        if rows:
            self._write_rows(conn, rows)
        conn.info[DEFERRED] = {}
        try:
            conn.info[SCRATCH] = {}
            _prepare(conn, [item.job for item in batch if item.job is not None])
            for item in batch:
                if item.job is not None:
                    try:
                        item.result = item.job(conn)
                    except Exception as exc:
                        item.error = exc
                        raise
            for sink, rows in conn.info[DEFERRED].items():
                sink(conn, rows)
        finally:
            del conn.info[DEFERRED]
            conn.info.pop(SCRATCH, None)


def _timed_out(exc: BaseException) -> bool:
    """Whether a write failed on a lock or statement timeout rather than on its own data."""
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, sqlite3.OperationalError):
        return "locked" in str(orig)
    return getattr(orig, "sqlstate", None) in ("55P03", "57014")  # lock_not_available, canceled


def _begin_waiting(conn: Connection, timeout: float) -> None:
    """BEGIN IMMEDIATE, trying again every millisecond or so while another connection holds
    the write lock, for up to `timeout` seconds. SQLite's own busy handler sleeps longer and
    longer between tries (up to 100 ms): against a report fold that takes the lock back the
    moment it lets go, it kept missing the gaps and the writes starved."""
    raw = conn.connection.driver_connection
    deadline = time.monotonic() + timeout
    pause = 0.0005
    while True:
        try:
            raw.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.004)


def _busy_timeout(conn: Connection, ms: int) -> None:
    conn.connection.driver_connection.execute(f"PRAGMA busy_timeout={int(ms)}")  # type: ignore[union-attr]


def _prepare(conn: Connection, jobs: list[Job]) -> None:
    """Let jobs of one kind do their reads for the whole batch at once: a job class with a
    `prepare_batch(conn, jobs)` static method gets called once with all its jobs first (the
    postback receiver reads all the batch's clicks with one query)."""
    for prepare, group in _by_hook(jobs, "prepare_batch").items():
        prepare(conn, group)


def _reads_ahead(items: list[_Item]) -> bool:
    return any(hasattr(type(item.job), "read_ahead") for item in items if item.job is not None)


def _read_ahead(jobs: list[Job]) -> None:
    """Jobs of a class with a `read_ahead(jobs)` static method do their reads and checks for
    the whole batch before its transaction, on a read connection of their own (on SQLite, on
    the event loop, while the previous batch's commit waits for the disk). Whatever they
    could not do there, `prepare_batch` does in the transaction."""
    for read_ahead, group in _by_hook(jobs, "read_ahead").items():
        try:
            read_ahead(group)
        except Exception:
            log.exception(
                "reading ahead for %d jobs failed; they read in their transaction", len(group)
            )


def _by_hook(jobs: list[Job], hook: str) -> dict[Any, list[Job]]:
    """The jobs whose class has the static method `hook`, grouped by it."""
    kinds: dict[Any, list[Job]] = {}
    for job in jobs:
        method = getattr(type(job), hook, None)
        if method is not None:
            kinds.setdefault(method, []).append(job)
    return kinds


@contextlib.contextmanager
def batch_scope(conn: Connection) -> Iterator[None]:
    """Give `conn` a batch scratch dict (see batch_scratch) for the length of the block."""
    conn.info[SCRATCH] = {}
    try:
        yield
    finally:
        conn.info.pop(SCRATCH, None)


def batch_scratch(conn: Connection) -> dict[str, Any] | None:
    """A dict that lives as long as the writer's current batch (None outside the writer):
    where `prepare_batch` leaves what it read for the jobs that follow."""
    scratch: dict[str, Any] | None = conn.info.get(SCRATCH)
    return scratch


def insert_later(conn: Connection, sink: RowSink, row: Any) -> None:
    """Insert a row in this transaction: batched when the group-commit writer runs it,
    at once anywhere else. Only for rows nothing in the same batch reads back."""
    deferred = conn.info.get(DEFERRED)
    if deferred is None:
        sink(conn, [row])
    else:
        deferred.setdefault(sink, []).append(row)


def deferred_rows(conn: Connection, sink: RowSink) -> list[Any]:
    """The rows `insert_later` is holding for `sink` until the end of the writer's batch."""
    deferred = conn.info.get(DEFERRED)
    return list(deferred.get(sink, ())) if deferred is not None else []


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _resolve(batch: list[_Item]) -> None:
    for item in batch:
        if item.future.done():  # the request was cancelled (client went away)
            continue
        if item.error is not None:
            item.future.set_exception(item.error)
        else:
            item.future.set_result(item.result)
