"""Several worker processes on one database: every due postback delivered exactly once,
and a worker killed mid-delivery loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select

from postback.kit.ids import new_id
from postback.models import Campaign, Conversion, Delivery, DeliveryAttempt, TrafficSource
from tests.conftest import LiveServer
from tests.factories import conversion_row
from tests.receiver import Receiver, running_receiver

WORKER = (
    "from postback.config import Settings; from postback.deliveries.run import run_worker; "
    "run_worker(Settings())"
)


def seed(live: LiveServer, receiver: Receiver, path: str, count: int) -> None:
    now = datetime.now(UTC)
    with live.runtime.db.session() as s:
        src = TrafficSource(name="s", postback_url="x")
        s.add(src)
        s.flush()
        camp = Campaign(key="w" + new_id()[-8:], name="c", traffic_source_id=src.id)
        s.add(camp)
        s.flush()
        conversions, deliveries = [], []
        for i in range(count):
            cid = new_id()
            conversions.append(conversion_row(new_id(), camp.id, src.id, now, id=cid))
            deliveries.append(
                {
                    "id": new_id(),
                    "conversion_id": cid,
                    "traffic_source_id": src.id,
                    "url": f"{receiver.url}/{path}?n={i}",
                    "method": "GET",
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
        s.execute(insert(Conversion), conversions)
        s.execute(insert(Delivery), deliveries)


def start_worker(live: LiveServer) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "POSTBACK_DATABASE_URL": live.settings.database_url,
        "POSTBACK_OUTBOUND_ALLOWLIST": "127.0.0.0/8",
        "POSTBACK_DELIVERY_LEASE": "PT6S",
        "POSTBACK_OUTBOUND_TIMEOUT": "PT3S",
        # The test receiver is a thread-per-connection server: more requests in flight than it
        # can answer within the 3 s timeout would be timed out and, rightly, sent again.
        "POSTBACK_DELIVERY_PER_HOST": "8",
        "POSTBACK_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-c", WORKER], env=env)


def count_state(live: LiveServer, state: str) -> int:
    with live.runtime.db.session() as s:
        return int(s.scalar(select(func.count()).where(Delivery.state == state)) or 0)


def wait_for(
    predicate: Callable[[], bool], timeout: float, procs: list[subprocess.Popen[bytes]]
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        assert all(p.poll() is None for p in procs), "a worker process died"
        time.sleep(0.2)
    return False


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        assert p.wait(timeout=30) == 0  # a clean exit on SIGTERM


def test_two_workers_deliver_5000_postbacks_exactly_once(live: LiveServer) -> None:
    with running_receiver() as receiver:
        seed(live, receiver, "ok", 5000)
        procs = [start_worker(live), start_worker(live)]
        try:
            assert wait_for(lambda: count_state(live, "delivered") == 5000, 120, procs)
        finally:
            stop(procs)
        keys = Counter(h.headers["idempotency-key"] for h in receiver.hits)
    assert len(keys) == 5000
    assert set(keys.values()) == {1}
    with live.runtime.db.session() as s:
        workers = s.scalars(select(DeliveryAttempt.worker).distinct()).all()
    assert len(workers) == 2  # both took a share


def test_a_killed_worker_loses_nothing_and_keeps_the_idempotency_key(live: LiveServer) -> None:
    """SIGKILL a worker while its receiver is slow: its leased rows come back after the lease
    and another worker delivers them, with the key the first one used."""
    with running_receiver() as receiver:
        seed(live, receiver, "slow", 20)
        victim = start_worker(live)
        assert wait_for(lambda: len(receiver.hits) >= 5, 30, [victim])
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        first_keys = {h.headers["idempotency-key"] for h in receiver.hits}
        survivor = start_worker(live)
        try:
            assert wait_for(lambda: count_state(live, "delivered") == 20, 90, [survivor])
        finally:
            stop([survivor])
        keys = Counter(h.headers["idempotency-key"] for h in receiver.hits)
    with live.runtime.db.session() as s:
        ids = set(s.scalars(select(Delivery.id)))
    assert set(keys) == ids  # every due postback was delivered at least once
    assert first_keys <= ids  # the retried ones carried the same key
    assert any(keys[k] >= 2 for k in first_keys)  # interrupted ones were indeed sent again


@pytest.fixture(autouse=True)
def _quiet() -> None:
    os.environ.setdefault("POSTBACK_LOG_LEVEL", "WARNING")
