"""Group commit: many concurrent requests, one transaction, one fsync.

Requests hand a write to the writer thread and await its future. The thread takes everything
queued (up to a batch limit), runs it in one transaction, commits, and only then resolves the
futures, so a request answers only after its row is durable. Under load a single fsync covers
dozens of clicks; when idle a write commits alone at once (no timer, no added latency).

Rows of one table (clicks) are inserted with one executemany. Other writes are jobs: functions
of a connection, run one after the other in the batch's transaction. If a job raises, the batch
is rolled back and every job is re-run in a transaction of its own, so one bad write fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

log = logging.getLogger("postback.writer")

Job = Callable[[Connection], Any]
# Writes rows of one table, all at once (kit/rows.py's DriverInsert is one).
RowSink = Callable[[Connection, list[Any]], None]
# Rows that jobs hand to `insert_later`, written by one call of their sink per table at the end
# of the batch, still inside its transaction: the append-only rows of many postbacks (ledger,
# log, outbox) cost one round trip per table instead of one per postback.
DEFERRED = "postback.deferred_inserts"
SCRATCH = "postback.batch_scratch"


@dataclass(slots=True)
class _Item:
    future: asyncio.Future[Any]
    row: dict[str, Any] | None = None
    job: Job | None = None
    result: Any = None
    error: BaseException | None = field(default=None)


_STOP = object()


class GroupCommitWriter:
    def __init__(self, engine: Engine, write_rows: RowSink, max_batch: int = 512) -> None:
        self._engine = engine
        self._write_rows = write_rows
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0
        self.items = 0
        self._conn: Connection | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None

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
        self._queue.put(item)
        return item.future

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stopping = False
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
            self._write(batch)
            assert self._loop is not None
            self._loop.call_soon_threadsafe(_resolve, batch)
            if stopping:
                return

    def _write(self, batch: list[_Item]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            self._transaction(batch)
            return
        except Exception as exc:
            if len(batch) == 1:
                log.exception("write failed")
                batch[0].error = batch[0].error or exc
                return
            log.warning("batch of %d failed, retrying each write alone", len(batch))
        for item in batch:
            item.error = None
            try:
                self._transaction([item])
            except Exception as exc:
                log.exception("write failed")
                item.error = exc

    def _transaction(self, batch: list[_Item]) -> None:
        # The writer keeps one connection instead of taking one from the pool per batch: a
        # checkout (and on PostgreSQL its pre-ping round trip) cost more than a batch of
        # clicks. After any failure the connection is dropped, so the next transaction
        # starts on a fresh one, as a pool checkout would.
        if self._conn is None:
            self._conn = self._engine.connect()
        try:
            with self._conn.begin():
                self._apply(self._conn, batch)
        except Exception:
            self._drop_connection()
            raise

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
        conn.info[SCRATCH] = {}
        try:
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
            del conn.info[SCRATCH]


def _prepare(conn: Connection, jobs: list[Job]) -> None:
    """Let jobs of one kind do their reads for the whole batch at once: a job class with a
    `prepare_batch(conn, jobs)` static method gets called once with all its jobs first (the
    postback receiver reads all the batch's clicks with one query)."""
    kinds: dict[Any, list[Job]] = {}
    for job in jobs:
        prepare = getattr(type(job), "prepare_batch", None)
        if prepare is not None:
            kinds.setdefault(prepare, []).append(job)
    for prepare, group in kinds.items():
        prepare(conn, group)


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


def _resolve(batch: list[_Item]) -> None:
    for item in batch:
        if item.future.done():  # the request was cancelled (client went away)
            continue
        if item.error is not None:
            item.future.set_exception(item.error)
        else:
            item.future.set_result(item.result)
