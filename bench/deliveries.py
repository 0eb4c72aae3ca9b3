"""Outbound delivery throughput: one `postback worker` against a local receiver.

One run measures, against the same receiver (pinned to CPU 1):
  baseline  the outbound HTTP wrapper alone (kit/http.py) sending N GETs, 64 in flight;
  worker    a `postback worker` process (pinned to CPU 0) delivering N queued postbacks:
            claim with a lease, send, store every attempt and the new state, commit.
and prints deliveries/s and the ratio worker/baseline, on SQLite and PostgreSQL.

    .venv/bin/python bench/deliveries.py [--count 20000] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import uvloop
from sqlalchemy import create_engine, func, insert, select, text

from postback.config import Settings
from postback.kit.db import Database, normalize_url
from postback.kit.http import OutboundClient, parse_allowlist
from postback.kit.ids import new_id
from postback.kit.migrate import upgrade
from postback.models import Campaign, Conversion, Delivery, TrafficSource

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from harness import Server, free_port  # noqa: E402

PG_URL = os.environ.get("POSTBACK_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")


def receiver(port: int) -> Server:
    cmd = [
        sys.executable, "-m", "uvicorn", "receiver_app:app", "--app-dir", str(BENCH),
        "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    server = Server(cmd, port)
    server.cmd = ["taskset", "-c", "1", *cmd]  # the receiver gets the other core
    return server


async def _baseline(url: str, count: int) -> float:
    client = OutboundClient(10, parse_allowlist("127.0.0.0/8"), 64)
    slots = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with slots:
            reply = await client.request("GET", f"{url}/ok?n={i}")
            assert reply.status_code == 200

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - start
    await client.aclose()
    return count / elapsed


def seed(settings: Settings, url: str, count: int) -> None:
    db = Database(settings)
    now = datetime.now(UTC)
    with db.session() as s:
        src = TrafficSource(name="bench", postback_url=f"{url}/ok")
        s.add(src)
        s.flush()
        camp = Campaign(key="bench", name="bench", traffic_source_id=src.id)
        s.add(camp)
        s.flush()
        conversions, deliveries = [], []
        for i in range(count):
            cid = new_id()
            conversions.append(_conversion(cid, camp.id, src.id, now))
            deliveries.append({
                "id": new_id(), "conversion_id": cid, "traffic_source_id": src.id,
                "url": f"{url}/ok?n={i}", "method": "GET", "state": "pending", "attempts": 0,
                "next_attempt_at": now, "created_at": now,
            })  # fmt: skip
        s.execute(insert(Conversion), conversions)
        s.execute(insert(Delivery), deliveries)
    db.dispose()


def _conversion(cid: str, campaign_id: int, source_id: int, now: datetime) -> dict[str, object]:
    return {
        "id": cid, "click_id": new_id(), "dedupe_key": "", "created_at": now, "updated_at": now,
        "click_at": now, "campaign_id": campaign_id, "traffic_source_id": source_id,
        "event": "conversion", "status": "approved", "payout_micros": 1, "revenue_micros": 1,
        "commission_micros": 0, "original_amount": "1", "original_currency": "USD",
        "fx_rate": "1", "params": {}, "is_test": False, "flags": 0,
    }  # fmt: skip


def run_worker(settings: Settings, count: int) -> tuple[float, float]:
    """Deliveries per second and the worker's CPU seconds per 1,000 deliveries."""
    env = {
        **os.environ,
        "POSTBACK_DATABASE_URL": settings.database_url,
        "POSTBACK_OUTBOUND_ALLOWLIST": "127.0.0.0/8",
        "POSTBACK_LOG_LEVEL": "WARNING",
    }
    db = Database(settings)
    proc = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "postback.cli", "worker"], env=env, cwd=BENCH
    )
    start = time.perf_counter()
    try:
        while _delivered(db) < count:
            if proc.poll() is not None:
                raise RuntimeError("the worker exited")
            if time.perf_counter() - start > 600:
                raise RuntimeError("the worker did not finish in 10 minutes")
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        db.dispose()
    return count / elapsed, cpu / count * 1000


def _delivered(db: Database) -> int:
    with db.engine.connect() as conn:
        stmt = select(func.count()).select_from(Delivery).where(Delivery.state == "delivered")
        return int(conn.execute(stmt).scalar() or 0)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database(kind: str, tmp: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'deliveries.db'}", None
    name = f"postback_bench_{uuid.uuid4().hex[:10]}"
    with create_engine(
        normalize_url(f"{PG_URL}/postgres"), isolation_level="AUTOCOMMIT"
    ).connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    return f"{PG_URL}/{name}", name


def drop(name: str) -> None:
    with create_engine(
        normalize_url(f"{PG_URL}/postgres"), isolation_level="AUTOCOMMIT"
    ).connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    server = receiver(free_port()).start(ready_path="/")
    os.sched_setaffinity(0, {0})  # the baseline client gets the core the worker will get
    rows = []
    try:
        base = uvloop.run(_baseline(server.url, args.count))
        rows.append(("baseline: outbound wrapper alone", base, None, 1.0))
        for kind in args.databases.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                url, pg_name = database(kind, Path(tmp))
                try:
                    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
                    upgrade(settings)
                    seed(settings, server.url, args.count)
                    rate, cpu = run_worker(settings, args.count)
                    rows.append((f"{kind}: postback worker", rate, cpu, rate / base))
                finally:
                    if pg_name:
                        drop(pg_name)
    finally:
        server.stop()
    print(f"\n{args.count} deliveries per scenario, load average {os.getloadavg()[0]:.2f}")
    print(f"{'scenario':36} {'deliveries/s':>12} {'cpu-s/1000':>11} {'x base':>7}")
    for name, rate, cpu, ratio in rows:
        cpu_text = f"{cpu:.2f}" if cpu is not None else "-"
        print(f"{name:36} {rate:12.0f} {cpu_text:>11} {ratio:6.2f}x")


if __name__ == "__main__":
    main()
