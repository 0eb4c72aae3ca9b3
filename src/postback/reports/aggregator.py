"""The aggregator: folds new clicks and ledger rows into the rollups, off the click path.

Everything timestamped before the watermark is in the rollups, and nothing after it: one
transaction adds a slice [watermark, new watermark) and moves the watermark, so a report that
reads the watermark and the rollups in one snapshot, and the raw rows after the watermark,
counts every row exactly once. The watermark trails the clock by LAG, because a row is stamped
before it commits (the click writer's queue, a postback's transaction): a row that commits
later than LAG after its own timestamp would be missed, so LAG is many times those delays.

Concurrent aggregators (several servers on one PostgreSQL) serialise on the watermark row
(SELECT ... FOR UPDATE; on SQLite the BEGIN IMMEDIATE write lock does it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table

from postback.reports import queries
from postback.reports.dimensions import CLICK_FAMILIES, CONVERSION_FAMILIES
from postback.reports.facts import CLICK_METRICS, CONV_METRICS, Fact, click_facts, ledger_facts
from postback.reports.periods import LEVELS, PER_DAY, q_of

log = logging.getLogger("postback.reports")

LAG = timedelta(seconds=10)
INTERVAL = 2.0  # seconds between folds in a server process
# The most one transaction folds. Short, because on SQLite the fold holds the write lock that
# the click path's group commits wait for; catching up after a pause takes more transactions.
STEP = timedelta(minutes=1)

Acc = dict[tuple[Any, ...], list[int]]


def _add(acc: Acc, key: tuple[Any, ...], metrics: tuple[int, ...] | list[int]) -> None:
    slot = acc.get(key)
    if slot is None:
        acc[key] = list(metrics)
    else:
        for i, m in enumerate(metrics):
            slot[i] += m


def _keys(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


def _values(fact: Fact) -> dict[str, Any]:
    return {
        "level": 0,
        "q": fact.q,
        "is_test": fact.is_test,
        "basis": fact.basis,
        "event": fact.event,
        **fact.dims,
    }


Folded = list[tuple[Table, list[str], Acc]]


def _fold_facts(facts: Iterable[Fact], tables: list[Table]) -> tuple[int, Folded]:
    """Level-0 sums per table (tokens: one row per token), then hours and days from those."""
    accs: list[Acc] = [{} for _ in tables]
    count = 0
    cols = [_keys(t) for t in tables]
    for fact in facts:
        count += 1
        values = _values(fact)
        for acc, _table, keys in zip(accs, tables, cols, strict=True):
            if "name" in keys:
                for name, value in fact.tokens.items():
                    values["name"], values["value"] = name, value
                    _add(acc, tuple(values[k] for k in keys), fact.metrics)
            else:
                _add(acc, tuple(values[k] for k in keys), fact.metrics)
    folded = [
        (table, keys, _with_levels(acc, keys.index("q")))
        for acc, table, keys in zip(accs, tables, cols, strict=True)
    ]
    return count, folded


def _with_levels(acc: Acc, q_at: int) -> Acc:
    out: Acc = dict(acc)
    for level in (1, 2):
        size = LEVELS[level]
        for key, metrics in acc.items():
            coarse = list(key)
            coarse[0], coarse[q_at] = level, key[q_at] - key[q_at] % size
            _add(out, tuple(coarse), metrics)
    return out


def _write(
    conn: Connection, table: Table, keys: list[str], acc: Acc, metrics: tuple[str, ...]
) -> None:
    rows = [dict(zip([*keys, *metrics], (*key, *vals), strict=True)) for key, vals in acc.items()]
    for i in range(0, len(rows), 5000):
        queries.upsert(conn, table, rows[i : i + 5000], metrics)


def fold(conn: Connection, since: datetime, until: datetime) -> int:
    """Add clicks and ledger rows stamped in [since, until) to the rollups; returns rows read."""
    network_of = queries.networks_by_offer(conn)
    seen = queries.visitors_of_day(conn, q_of(since) // PER_DAY)
    before = set(seen)
    clicks = queries.fetch_clicks(conn, since, until)
    ledger = queries.fetch_ledger(conn, since, until)
    batches = [
        (click_facts(clicks, seen, network_of), CLICK_FAMILIES, CLICK_METRICS),
        (ledger_facts(ledger, network_of, (0, 1)), CONVERSION_FAMILIES, CONV_METRICS),
    ]
    count = 0
    for facts, families, metrics in batches:
        read, folded = _fold_facts(facts, [f.table for f in families])
        count += read
        for table, keys, acc in folded:
            _write(conn, table, keys, acc, metrics)
    queries.store_visitors(conn, q_of(until) // PER_DAY, seen - before)
    return count


class Aggregator:
    def __init__(self, engine: Engine, lag: timedelta = LAG, step: timedelta = STEP) -> None:
        self.engine = engine
        self.lag = lag
        self.step = step
        self._stop = asyncio.Event()

    def fold_once(self, until: datetime | None = None) -> tuple[datetime, int]:
        """Fold at most one step towards `until` (default: now - LAG); returns the watermark."""
        target = until or datetime.now(UTC) - self.lag
        with self.engine.begin() as conn:
            prev = queries.read_watermark(conn, lock=True)
            start = prev if prev is not None else (queries.first_activity(conn) or target)
            new = min(target, start + self.step)
            if new <= start:
                if prev is None:
                    queries.write_watermark(conn, start, existed=False)
                return start, 0
            count = fold(conn, start, new)
            queries.write_watermark(conn, new, existed=prev is not None)
        return new, count

    def catch_up(
        self, until: datetime | None = None, progress: Callable[[datetime, int], None] | None = None
    ) -> int:
        """Fold until the watermark reaches `until` (default: now - LAG)."""
        target = until or datetime.now(UTC) - self.lag
        total = 0
        while True:
            mark, count = self.fold_once(target)
            total += count
            if progress is not None:
                progress(mark, count)
            if mark >= target:
                return total

    async def run(self) -> None:
        """Fold every INTERVAL seconds until stop(); errors are logged and retried."""
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.catch_up)
            except Exception:
                log.exception("report aggregation failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), INTERVAL)

    def stop(self) -> None:
        self._stop.set()
