"""Report benchmark: generate clicks and conversions, fold them, time the reports.

    .venv/bin/python bench/reports.py --clicks 10000000 --conversions 200000
    .venv/bin/python bench/reports.py --clicks 1000000 --databases sqlite --keep
    .venv/bin/python bench/reports.py --url sqlite:///path/to/bench.db   # time the reports only

Each database is fresh (bench/dataset.py) and dropped afterwards unless --keep (its URL is
printed). Prints the generator's rows/s, the fold's rows/s, the size on disk and p50/p95 per
report query; with --url, only the size and the queries of that generated, folded database.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Connection, Engine, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dataset import fresh_database
from postback.clicks.repository import ClickRows
from postback.kit.db import normalize_url
from postback.models import (
    Campaign,
    Conversion,
    ConversionStatusChange,
    Network,
    Offer,
    TrafficSource,
)
from postback.reports.aggregator import Aggregator
from postback.reports.schemas import parse_query
from postback.reports.service import run_report

console = Console()
BATCH = 20_000
COUNTRIES = ["US", "IN", "BR", "DE", "ID", "MX", "FR", "GB", "PH", "VN", "TR", "TH", "EG", "PK"]
PLATFORMS = [("mobile", "Android", "Chrome"), ("mobile", "iOS", "Safari"),
             ("desktop", "Windows", "Chrome"), ("desktop", "Windows", "Edge"),
             ("desktop", "Mac OS X", "Safari"), ("tablet", "Android", "Chrome"),
             ("mobile", "Android", "Samsung"), ("desktop", "Linux", "Firefox")]  # fmt: skip
QUERIES = {
    "day x campaign, 30 d, UTC": "group_by=day,campaign&tz=UTC",
    "day x campaign, 30 d, Asia/Kathmandu": "group_by=day,campaign&tz=Asia/Kathmandu",
    "day x campaign, 30 d, America/New_York": "group_by=day,campaign&tz=America/New_York",
    "token zone, 30 d, Asia/Kolkata": "group_by=zone&tz=Asia/Kolkata",
    "token placement, 30 d, UTC": "group_by=placement&tz=UTC",
    "country x os, 30 d, America/New_York": "group_by=country,os&tz=America/New_York",
}


def seed_config(conn: Connection) -> list[tuple[int, int, list[int]]]:
    def insert(model: Any, **values: Any) -> int:
        return int(conn.execute(model.__table__.insert().values(**values)).inserted_primary_key[0])

    sources = [insert(TrafficSource, name=f"source {i}") for i in range(5)]
    networks = [insert(Network, key=f"net{i}", name=f"network {i}") for i in range(3)]
    campaigns = []
    for i in range(30):
        offers = [
            insert(Offer, name=f"offer {i}.{j}", url="https://o.example/", network_id=networks[j])
            for j in range(2)
        ]
        cid = insert(
            Campaign, key=f"camp{i}", name=f"campaign {i}", traffic_source_id=sources[i % 5]
        )
        campaigns.append((cid, sources[i % 5], offers))
    return campaigns


def click_row(rng: random.Random, at: datetime, campaigns: list[Any]) -> dict[str, Any]:
    cid, sid, offers = campaigns[min(int(rng.expovariate(0.12)), 29)]
    device, os_, browser = PLATFORMS[min(int(rng.expovariate(0.5)), 7)]
    ms = int(at.timestamp() * 1000)
    return {
        "id": _ulid(ms, rng),
        "created_at": at,
        "campaign_id": cid,
        "offer_id": offers[rng.random() < 0.4],
        "lander_id": None,
        "traffic_source_id": sid,
        "ip": f"10.{rng.randrange(64)}.{rng.randrange(256)}.{rng.randrange(256)}",
        "user_agent": None,
        "referrer": None,
        "language": None,
        "country": COUNTRIES[min(int(rng.expovariate(0.3)), 13)],
        "device": device,
        "os": os_,
        "browser": browser,
        "external_id": None,
        "tokens": {
            "zone": str(sid * 10000 + min(int(rng.expovariate(0.004)), 2000)),
            "placement": f"p{rng.randrange(200)}",
            "sub1": f"creative{rng.randrange(40)}",
        },
        "cost_micros": rng.choice((800, 1000, 1200, 1500)),
        "is_test": False,
        "flags": 0,
    }


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid(ms: int, rng: random.Random) -> str:
    value = (ms << 80) | rng.getrandbits(80)
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


def generate(engine: Engine, clicks: int, conversions: int, days: int) -> tuple[float, int]:
    rng = random.Random(7)
    with engine.begin() as conn:
        campaigns = seed_config(conn)
    end = datetime.now(UTC) - timedelta(minutes=1)
    start = end - timedelta(days=days)
    span = (end - start).total_seconds()
    every = max(1, clicks // max(1, conversions))
    # The click path's own writer: one driver-level executemany per batch.
    write_clicks = ClickRows(engine.dialect.name)
    began, written = time.perf_counter(), 0
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("generating", total=clicks)
        for first in range(0, clicks, BATCH):
            n = min(BATCH, clicks - first)
            # In time order, as clicks arrive: each batch is the next stretch of the 90 days.
            # (Batches over the whole range made every insert land in a random page, which
            # slowed the generator, and the fold's reads, more and more as the table grew.)
            low, width = span * first / clicks, span * n / clicks
            times = sorted(start + timedelta(seconds=low + width * rng.random()) for _ in range(n))
            rows = [click_row(rng, at, campaigns) for at in times]
            convs, ledger = _conversions(rng, rows[::every])
            with engine.begin() as conn:
                write_clicks(conn, rows)
                if convs:
                    conn.execute(Conversion.__table__.insert(), convs)
                    conn.execute(ConversionStatusChange.__table__.insert(), ledger)
            written += n + len(convs) + len(ledger)
            progress.update(task, advance=n)
    return time.perf_counter() - began, written


def _conversions(rng: random.Random, clicks: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    convs, ledger = [], []
    for click in clicks:
        at = click["created_at"] + timedelta(seconds=rng.randrange(1, 3 * 86400))
        if at > datetime.now(UTC) - timedelta(seconds=30):
            continue
        conv_id = _ulid(int(at.timestamp() * 1000), rng)
        payout = rng.choice((1_500_000, 2_000_000, 350_000))
        status = rng.choice(("approved", "approved", "approved", "pending", "rejected"))
        revenue = payout if status == "approved" else 0
        cost = revenue * 2 // 5  # as a 40% RevShare campaign would
        convs.append({
            "id": conv_id, "click_id": click["id"], "dedupe_key": "", "created_at": at,
            "updated_at": at, "click_at": click["created_at"], "campaign_id": click["campaign_id"],
            "offer_id": click["offer_id"], "network_id": None,
            "traffic_source_id": click["traffic_source_id"],
            "event": rng.choice(("conversion", "install", "purchase")), "txid": None,
            "status": status, "payout_micros": payout, "revenue_micros": revenue,
            "cost_micros": cost, "commission_micros": 0, "original_amount": "1",
            "original_currency": "USD", "fx_rate": "1", "fx_date": None, "params": {},
            "is_test": False, "flags": 0,
        })  # fmt: skip
        ledger.append({
            "conversion_id": conv_id, "at": at, "from_status": None, "to_status": status,
            "payout_delta_micros": payout, "revenue_delta_micros": revenue,
            "cost_delta_micros": cost, "postback_id": None,
        })  # fmt: skip
    return convs, ledger


def fold(engine: Engine, clicks: int) -> float:
    began = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("folding", total=clicks)
        Aggregator(engine).catch_up(progress=lambda _m, n: progress.update(task, advance=n))
    return time.perf_counter() - began


def analyze(engine: Engine) -> None:
    """Table statistics, as autovacuum would gather them on PostgreSQL a minute after the load:
    without them the planner scanned the whole clicks table for a report's (empty) raw tail."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


def time_queries(engine: Engine, runs: int) -> dict[str, tuple[float, float]]:
    today = datetime.now(UTC).date()
    span = f"&from={(today - timedelta(days=29)).isoformat()}&to={today.isoformat()}"
    found = {}
    for name, qs in QUERIES.items():
        params: dict[str, list[str]] = {}
        for part in (qs + span).split("&"):
            key, _, value = part.partition("=")
            params.setdefault(key, []).append(value)
        query = parse_query(params, paginate=False)
        samples = []
        for _ in range(runs):
            began = time.perf_counter()
            with engine.connect() as conn:
                run_report(conn, query)
            samples.append((time.perf_counter() - began) * 1000)
        samples.sort()
        found[name] = (statistics.median(samples), samples[int(0.95 * (len(samples) - 1))])
    return found


def size_on_disk(engine: Engine, url: str) -> int:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--conversions", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--url", help="time the reports on this folded database")
    args = parser.parse_args()
    if args.url:
        engine = create_engine(normalize_url(args.url))
        timings = time_queries(engine, args.runs)
        console.print(f"{args.url}: {size_on_disk(engine, args.url) / 2**20:,.0f} MiB on disk")
        _table(timings)
        return
    workdir = Path(tempfile.mkdtemp(prefix="postback-reports-"))
    try:
        for kind in args.databases.split(","):
            _run(kind, args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif not any(workdir.iterdir()):  # a kept SQLite database lives in it
            workdir.rmdir()


def _run(kind: str, args: Any, workdir: Path) -> None:
    with fresh_database(kind, workdir, keep=args.keep) as url:
        if args.keep:
            console.print(f"{kind}: {url} (kept)")
        engine = create_engine(normalize_url(url))
        gen_s, rows = generate(engine, args.clicks, args.conversions, args.days)
        fold_s = fold(engine, args.clicks)
        analyze(engine)
        timings = time_queries(engine, args.runs)
        size = size_on_disk(engine, url)
        engine.dispose()
    _print(kind, args, gen_s, rows, fold_s, size, timings)


def _print(kind: str, args: Any, gen_s: float, rows: int, fold_s: float, size: int,
           timings: dict[str, tuple[float, float]]) -> None:  # fmt: skip
    console.print(
        f"[bold]{kind}[/]: {args.clicks:,} clicks, ~{args.conversions:,} conversions over "
        f"{args.days} days; generated {rows:,} rows in {gen_s:.0f} s ({rows / gen_s:,.0f} rows/s);"
        f" folded in {fold_s:.0f} s ({args.clicks / fold_s:,.0f} clicks/s); "
        f"{size / 2**20:,.0f} MiB on disk"
    )
    _table(timings)


def _table(timings: dict[str, tuple[float, float]]) -> None:
    table = Table("query", "p50 ms", "p95 ms")
    for name, (p50, p95) in timings.items():
        table.add_row(name, f"{p50:.0f}", f"{p95:.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
