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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from postback.config import Settings
from postback.deliveries import repository
from postback.deliveries.repository import Claimed
from postback.deliveries.rules import Verdict, judge, standard_webhooks_headers
from postback.kit.db import Database
from postback.kit.http import OutboundClient, OutboundError, Reply, parse_allowlist

log = logging.getLogger("postback.worker")

CLAIM_BATCH = 256
IDLE_SLEEP = 0.5


@dataclass(slots=True)
class Result:
    claimed: Claimed
    started_at: datetime
    reply: Reply | None
    error: OutboundError | None
    latency_ms: int


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
        self.delivered = 0

    def stop(self) -> None:
        """Finish the batch in hand, then return from run(): a clean SIGTERM."""
        self._stopping.set()

    async def run(self) -> None:
        log.info("delivery worker %s started", self.name)
        try:
            while not self._stopping.is_set():
                done = await self.run_once()
                if done == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), IDLE_SLEEP)
        finally:
            await self.client.aclose()
            log.info("delivery worker %s stopped", self.name)

    async def run_once(self, now: datetime | None = None) -> int:
        """Claim one batch of due deliveries, send them all, store the results."""
        now = now or datetime.now(UTC)
        loop = asyncio.get_running_loop()
        claimed = await loop.run_in_executor(None, self._claim, now)
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._send(c) for c in claimed))
        await loop.run_in_executor(None, self._store, results, now)
        return len(results)

    def _claim(self, now: datetime) -> list[Claimed]:
        with self.db.engine.begin() as conn:
            failing_before = now - self.settings.destination_pause_after
            if repository.pause_failing_sources(conn, failing_before, now):
                log.warning("paused destinations failing since before %s", failing_before)
            return repository.claim(
                conn, self.name, now, now + self.settings.delivery_lease, CLAIM_BATCH
            )

    async def _send(self, claimed: Claimed) -> Result:
        host = claimed.url.split("/")[2] if "//" in claimed.url else ""
        async with self._global, self._per_host[host]:
            started_at = datetime.now(UTC)
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
        settings = self.settings
        attempts: list[dict[str, Any]] = []
        ok_sources: set[int] = set()
        failing_sources: set[int] = set()
        with self.db.engine.begin() as conn:
            for result in results:
                c = result.claimed
                code = result.reply.status_code if result.reply else None
                verdict = judge(
                    status_code=code,
                    permanent_error=bool(result.error and result.error.permanent),
                    headers=result.reply.headers if result.reply else None,
                    attempts_done=c.attempts + 1,
                    now=now,
                    schedule=settings.retry_schedule,
                    retry_after_cap=settings.retry_after_cap,
                )
                attempts.append(_attempt_row(result, c.attempts + 1, verdict, self.name))
                self._finish(conn, result, verdict, now)
                (ok_sources if verdict.state == "delivered" else failing_sources).add(
                    c.traffic_source_id
                )
            repository.insert_attempts(conn, attempts)
            repository.mark_source_success(conn, ok_sources)
            repository.mark_source_failing(conn, failing_sources - ok_sources, now)
        self.delivered += sum(1 for a in attempts if a["outcome"] == "delivered")

    def _finish(self, conn: Any, result: Result, verdict: Verdict, now: datetime) -> None:
        c = result.claimed
        error = str(result.error)[:500] if result.error else None
        values: dict[str, Any] = {
            "state": verdict.state,
            "attempts": c.attempts + 1,
            "last_status_code": result.reply.status_code if result.reply else None,
            "last_error": error,
        }
        if verdict.next_attempt_at is not None:
            values["next_attempt_at"] = verdict.next_attempt_at
        else:
            values["finished_at"] = now
        if not repository.finish(conn, c.id, self.name, values):
            log.warning("lease on delivery %s was lost; result kept as an attempt only", c.id)
        if verdict.state == "disabled":
            repository.disable_source(conn, c.traffic_source_id, now, "receiver answered 410 Gone")


def _attempt_row(result: Result, number: int, verdict: Verdict, worker: str) -> dict[str, Any]:
    reply = result.reply
    return {
        "delivery_id": result.claimed.id,
        "number": number,
        "started_at": result.started_at,
        "url": result.claimed.url,
        "status_code": reply.status_code if reply else None,
        "latency_ms": result.latency_ms,
        "outcome": verdict.outcome,
        "error": str(result.error)[:500] if result.error else None,
        "response_snippet": reply.snippet if reply else None,
        "worker": worker,
    }
