"""The delivery worker: claim due deliveries, send them, record every attempt.

Any number of workers may run against one database (`postback worker`, and one inside
`postback serve`). A claim is a lease: a worker killed mid-delivery leaves rows that become
due again when the lease runs out, and the attempt that then follows carries the same
idempotency key (the delivery id), so a receiver can drop the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError

from postback.config import Settings
from postback.deliveries import repository
from postback.deliveries.repository import Claimed
from postback.deliveries.rules import Verdict, judge, standard_webhooks_headers
from postback.kit.db import Database
from postback.kit.http import OutboundClient, OutboundError, Reply, parse_allowlist
from postback.kit.masking import Masker, source_masker

log = logging.getLogger("postback.worker")

CLAIM_BATCH = 256
IDLE_SLEEP = 0.5
ERROR_BACKOFF = 1.0
PAUSE_CHECK_EVERY = timedelta(seconds=30)


@dataclass(slots=True)
class Result:
    claimed: Claimed
    started_at: datetime
    reply: Reply | None
    error: OutboundError | None
    latency_ms: int
    skipped: bool = False


class DeliveryWorker:
    def __init__(self, settings: Settings, db: Database, name: str | None = None) -> None:
        self.settings = settings
        self.db = db
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self) % 10000}"
        self.client = OutboundClient(
            timeout=settings.outbound_timeout.total_seconds(),
            allowlist=parse_allowlist(settings.outbound_allowlist),
            max_connections=settings.delivery_concurrency,
        )
        self._global = asyncio.Semaphore(settings.delivery_concurrency)
        self._per_host: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.delivery_per_host)
        )
        self._stopping = asyncio.Event()
        self._next_pause_check: datetime | None = None
        self.client_timeout = settings.outbound_timeout + timedelta(seconds=1)
        self.delivered = 0

    def stop(self) -> None:
        """Finish the batch in hand, then return from run(): a clean SIGTERM."""
        self._stopping.set()

    async def run(self) -> None:
        """Keep up to `delivery_concurrency` deliveries in flight; store results as they land.

        Claims top the pipeline up as slots free, so one slow receiver never holds back a
        whole batch (it is bounded by its per-host limit instead). Results go to a storer
        task that writes whatever has piled up in one transaction: one commit covers many
        deliveries, the same group-commit idea as the click path."""
        log.info("delivery worker %s started", self.name)
        results: asyncio.Queue[Result] = asyncio.Queue()
        storer = asyncio.create_task(self._store_loop(results))
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while not (self._stopping.is_set() and not in_flight):
                try:
                    await self._top_up(in_flight, results)
                except Exception:
                    # The database may be restarting: keep the process, back off, go on. Rows
                    # whose results were not stored are sent again after their lease.
                    log.exception("delivery worker claim failed; retrying in %ss", ERROR_BACKOFF)
                    await asyncio.sleep(ERROR_BACKOFF)
                    continue
                if in_flight:
                    await asyncio.wait(
                        in_flight, timeout=IDLE_SLEEP, return_when=asyncio.FIRST_COMPLETED
                    )
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), IDLE_SLEEP)
            await results.join()
        finally:
            storer.cancel()
            await self.client.aclose()
            log.info("delivery worker %s stopped", self.name)

    async def _top_up(self, in_flight: set[asyncio.Task[None]], out: asyncio.Queue[Result]) -> None:
        capacity = self.settings.delivery_concurrency
        room = capacity - len(in_flight)
        if self._stopping.is_set() or room < min(capacity // 4, CLAIM_BATCH):
            return
        loop = asyncio.get_running_loop()
        limit = min(room, CLAIM_BATCH)
        claimed = await loop.run_in_executor(None, self._claim, datetime.now(UTC), limit)
        for c in claimed:
            task = asyncio.create_task(self._send_to(c, out))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)

    async def _send_to(self, claimed: Claimed, out: asyncio.Queue[Result]) -> None:
        await out.put(await self._send(claimed))

    async def _store_loop(self, results: asyncio.Queue[Result]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await results.get()]
            while not results.empty() and len(batch) < CLAIM_BATCH:
                batch.append(results.get_nowait())
            try:
                await loop.run_in_executor(None, self._store, batch, datetime.now(UTC))
            except Exception:
                log.exception(
                    "storing %d results failed; they are retried after the lease", len(batch)
                )
            finally:
                for _ in batch:
                    results.task_done()

    async def run_once(self, now: datetime | None = None) -> int:
        """Claim one batch of due deliveries, send them all, store the results."""
        now = now or datetime.now(UTC)
        loop = asyncio.get_running_loop()
        claimed = await loop.run_in_executor(None, self._claim, now, CLAIM_BATCH)
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._send(c) for c in claimed))
        await loop.run_in_executor(None, self._store, results, now)
        return len(results)

    def _claim(self, now: datetime, limit: int) -> list[Claimed]:
        with self.db.engine.begin() as conn:
            if self._next_pause_check is None or now >= self._next_pause_check:
                self._next_pause_check = now + PAUSE_CHECK_EVERY
                failing_before = now - self.settings.destination_pause_after
                if repository.pause_failing_sources(conn, failing_before, now):
                    log.warning("paused destinations failing since before %s", failing_before)
            return repository.claim(conn, self.name, now, now + self.settings.delivery_lease, limit)

    async def _send(self, claimed: Claimed) -> Result:
        host = claimed.url.split("/")[2] if "//" in claimed.url else ""
        async with self._global, self._per_host[host]:
            started_at = datetime.now(UTC)
            if started_at + self.client_timeout >= claimed.lease_until:
                # Waited so long for a slot that the lease could run out mid-request, and
                # another worker could then send it too: hand it back unsent instead.
                return Result(claimed, started_at, None, None, 0, skipped=True)
            body = (claimed.body or "").encode()
            headers = {"Idempotency-Key": claimed.id}
            if body:
                headers["Content-Type"] = "application/json"
            if claimed.signing_secret:
                headers.update(
                    standard_webhooks_headers(
                        claimed.signing_secret, claimed.id, int(time.time()), body
                    )
                )
            t0 = time.perf_counter()
            try:
                reply = await self.client.request(
                    claimed.method, claimed.url, headers=headers, content=body
                )
            except OutboundError as exc:
                latency = int((time.perf_counter() - t0) * 1000)
                return Result(claimed, started_at, None, exc, latency)
            return Result(claimed, started_at, reply, None, reply.latency_ms)

    def _store(self, results: list[Result], now: datetime) -> None:
        """One transaction for a whole batch of results: attempts, states, destinations.

        If that fails, each result is stored in a transaction of its own, so that one bad
        result (a reply that cannot be judged or stored) fails alone: it is dead-lettered
        with its attempt recorded, and the others are stored as they are."""
        try:
            self._write(self._plan(results, now), now)
            return
        except Exception as exc:
            if _database_gone(exc):
                raise
            log.exception("storing %d results together failed; storing each alone", len(results))
        for result in results:
            try:
                self._write(self._plan([result], now), now)
            except Exception as exc:
                if _database_gone(exc):
                    raise
                log.exception("delivery %s: its result cannot be stored; dead", result.claimed.id)
                self._write(self._plan([result], now, poison=type(exc).__name__), now)

    def _plan(self, results: list[Result], now: datetime, poison: str | None = None) -> _Plan:
        plan = _Plan()
        for result in results:
            c = result.claimed
            if result.skipped:
                plan.released.append(c.id)
                continue
            verdict = POISONED if poison else self._judge(result, now)
            plan.attempts.append(_attempt_row(result, c.attempts + 1, verdict, self.name, poison))
            plan.finished.append(_finish_row(result, verdict, now, poison))
            if verdict.state == "delivered":
                plan.ok_sources.add(c.traffic_source_id)
            elif not poison:  # our failure to store it says nothing about the receiver
                plan.failing_sources.add(c.traffic_source_id)
            if verdict.state == "disabled":
                plan.gone_sources.add(c.traffic_source_id)
        return plan

    def _write(self, plan: _Plan, now: datetime) -> None:
        with self.db.engine.begin() as conn:
            repository.release(conn, plan.released, self.name)
            stored = repository.finish(conn, plan.finished, self.name)
            repository.insert_attempts(conn, plan.attempts)
            repository.mark_source_success(conn, plan.ok_sources)
            repository.mark_source_failing(conn, plan.failing_sources - plan.ok_sources, now)
            for source_id in plan.gone_sources:
                repository.disable_source(conn, source_id, now, "receiver answered 410 Gone")
        if stored < len(plan.finished):
            log.warning(
                "%d leases ran out before their results were stored; those results "
                "are kept as attempts only",
                len(plan.finished) - stored,
            )
        self.delivered += sum(1 for a in plan.attempts if a["outcome"] == "delivered")

    def _judge(self, result: Result, now: datetime) -> Verdict:
        return judge(
            status_code=result.reply.status_code if result.reply else None,
            permanent_error=bool(result.error and result.error.permanent),
            headers=result.reply.headers if result.reply else None,
            attempts_done=result.claimed.attempts + 1,
            now=now,
            schedule=self.settings.retry_schedule,
            retry_after_cap=self.settings.retry_after_cap,
        )


def _masker(claimed: Claimed) -> Masker:
    # The attempt log and the last error are shown, so they keep no credential of the source
    # (cached per template: one dict lookup per result).
    return source_masker(claimed.template, claimed.signing_secret)


@dataclass(slots=True)
class _Plan:
    """The writes that store some results, made before the transaction that runs them."""

    attempts: list[dict[str, Any]] = field(default_factory=list)
    finished: list[dict[str, Any]] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    ok_sources: set[int] = field(default_factory=set)
    failing_sources: set[int] = field(default_factory=set)
    gone_sources: set[int] = field(default_factory=set)


# A result that could not be stored: dead at once, or it would be sent again every lease.
POISONED = Verdict("dead", "failed", None)


def _database_gone(exc: Exception) -> bool:
    """The connection broke (the database restarts): not this result's fault. Nothing is
    dead-lettered; the results are sent again after their lease."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _error_text(result: Result, poison: str | None) -> str | None:
    if poison:
        return f"the result could not be stored ({poison}): dead-lettered"
    if not result.error:
        return None
    return _masker(result.claimed).text(str(result.error)[:500])


def _finish_row(
    result: Result, verdict: Verdict, now: datetime, poison: str | None = None
) -> dict[str, Any]:
    return {
        "b_id": result.claimed.id,
        "b_state": verdict.state,
        "b_attempts": result.claimed.attempts + 1,
        "b_code": result.reply.status_code if result.reply else None,
        "b_error": _error_text(result, poison),
        "b_next": verdict.next_attempt_at,
        "b_finished": None if verdict.next_attempt_at is not None else now,
    }


def _attempt_row(
    result: Result, number: int, verdict: Verdict, worker: str, poison: str | None = None
) -> dict[str, Any]:
    reply = result.reply
    mask = _masker(result.claimed)
    return {
        "delivery_id": result.claimed.id,
        "number": number,
        "started_at": result.started_at,
        "url": mask.text(result.claimed.url),
        "status_code": reply.status_code if reply else None,
        "latency_ms": result.latency_ms,
        "outcome": verdict.outcome,
        "error": _error_text(result, poison),
        "response_snippet": mask.text(reply.snippet) if reply and not poison else None,
        "worker": worker,
    }
