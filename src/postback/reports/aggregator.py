"""The aggregator: folds new clicks and ledger rows into the rollups, off the click path.

Everything timestamped before the watermark is in the rollups, and so is every row named in
report_late_rows' past; nothing else is. One transaction adds a slice [watermark, new
watermark) plus the late rows and moves the watermark, so a report that reads the watermark and
the rollups in one snapshot, and the raw rows after the watermark, counts every folded row once.

A row is stamped before it commits (the click writer's queue, a postback's transaction, a lock
held elsewhere, a server whose clock is behind), so a fold can pass a row's timestamp before
the row is committed. That row is not lost (ADR 0013): before folding up to T, a short
transaction records the claim `claimed_until = T` on the watermark row, and a trigger in every
transaction that inserts a click or a ledger row names the rows stamped before the claim in
report_late_rows, which the next fold folds. On PostgreSQL the claim locks the row FOR UPDATE
and the triggers read it FOR KEY SHARE, so a writer either ended before the claim (its rows are
in the fold's snapshot) or sees it; the fold runs in one REPEATABLE READ snapshot, where a late
row and its entry are visible together. SQLite's writers take turns on one write lock. LAG only
keeps late rows rare; correctness does not depend on any clock.

A slice is bounded by row count, not by time: at most ROWS clicks and ROWS ledger rows (and as
many late rows of each), so a transaction (which on SQLite holds the write lock the click
path's group commits wait for) stays short under any traffic, and an idle stretch of any length
is crossed in one step.

The fold itself sums in Python over plain tuples and writes each rollup with one statement per
chunk: a driver-level executemany upsert on SQLite, an INSERT ... SELECT FROM unnest(arrays) on
PostgreSQL; both add to existing rows with ON CONFLICT ... DO UPDATE SET x = x + excluded.x.

Concurrent aggregators (several servers on one PostgreSQL) serialise on the watermark row; one
whose snapshot another's fold or claim overtook fails to serialise and tries again.

A slice that fails with an error that may be a row's (a value the fold's code or a rollup
column refuses) is folded again piece by piece (reports/isolation.py, ADR 0015): every good
row is folded, each row that fails alone is named in report_skipped_rows and left out, and the
watermark moves on. Those rows are the one exception to "everything before the watermark".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from postback.models import ReportVisitor
from postback.reports import queries
from postback.reports.dimensions import CLICK_FAMILIES, CONVERSION_FAMILIES
from postback.reports.facts import CLICK_METRICS, CONV_METRICS, ledger_facts, report_tokens
from postback.reports.periods import LEVELS, PER_DAY, q_of

log = logging.getLogger("postback.reports")

# Not for correctness (see above): a fold that trails the clock a little finds rows committed
# in their turn, and late rows stay a rarity.
LAG = timedelta(seconds=2)
INTERVAL = 2.0  # seconds between folds in a server process
# The most clicks (and ledger rows) one transaction folds: under a second of work (write lock).
ROWS = 5_000
# Inside `postback serve`, folding a backlog holds the database at most half the time.
SERVER_SHARE = 0.5
CHUNK = 20_000  # rollup rows per write statement
RETRIES = 5  # a fold another aggregator overtook (PostgreSQL serialization failure)
BACKOFF = 0.01  # seconds: up to this much, doubled per try, between those tries

# PostgreSQL's serialization failure and deadlock: another aggregator got there first.
SERIALIZATION_FAILURE = "40001"
RETRYABLE = {SERIALIZATION_FAILURE, "40P01"}

Acc = dict[tuple[Any, ...], list[int]]
Visitor = tuple[int, str, int]


def _pk(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


def _add(acc: Acc, key: tuple[Any, ...], metrics: Sequence[int]) -> None:
    slot = acc.get(key)
    if slot is None:
        acc[key] = list(metrics)
    else:
        for i, m in enumerate(metrics):
            slot[i] += m


# Key layouts (rollup primary key without `level`), in the tables' primary-key order:
#   click campaign: q, is_test, campaign, source, offer, flags
#   click geo:      q, is_test, campaign, source, country, device, os, browser, flags
#   click tokens:   name, q, is_test, campaign, source, value
# tests/test_reports.py checks that these equal the tables' keys.
CLICK_LAYOUTS = (
    ("q", "is_test", "campaign_id", "traffic_source_id", "offer_id", "flags"),
    ("q", "is_test", "campaign_id", "traffic_source_id", "country", "device", "os", "browser",
     "flags"),
    ("name", "q", "is_test", "campaign_id", "traffic_source_id", "value"),
)  # fmt: skip


def _token_dict(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what orjson refuses (integers past 64 bits), json takes
        return json.loads(text)


def fold_clicks(
    rows: Iterable[Any], seen: set[Visitor], new: list[Visitor]
) -> tuple[int, list[Acc]]:
    """Level-0 sums of clicks (`queries.fold_click_rows`, in (created_at, id) order) per click
    family; `seen` holds the visitors already counted and gains the new ones, which are also
    appended to `new`."""
    camp: Acc = {}
    geo: Acc = {}
    tok: Acc = {}
    count = 0
    for row in rows:
        (ident, q, campaign, offer, source, country, device, os_, browser, ip, tokens,
         external_id, cost, is_test, flags) = row  # fmt: skip
        count += 1
        visitor = (campaign, ip or ident, q // PER_DAY)
        if visitor in seen:
            unique = 0
        else:
            seen.add(visitor)
            new.append(visitor)
            unique = 1
        cost = cost or 0
        test = bool(is_test)
        source = source or 0
        flags = flags or 0
        key: tuple[Any, ...] = (q, test, campaign, source, offer or 0, flags)
        slot = camp.get(key)
        if slot is None:
            camp[key] = [1, unique, cost]
        else:
            slot[0] += 1
            slot[1] += unique
            slot[2] += cost
        geo_key = (country or "", device or "", os_ or "", browser or "", flags)
        key = (q, test, campaign, source, *geo_key)
        slot = geo.get(key)
        if slot is None:
            geo[key] = [1, unique, cost]
        else:
            slot[0] += 1
            slot[1] += unique
            slot[2] += cost
        if tokens and tokens != "{}":
            for name, value in report_tokens(_token_dict(tokens), external_id).items():
                key = (name, q, test, campaign, source, value)
                slot = tok.get(key)
                if slot is None:
                    tok[key] = [1, unique, cost]
                else:
                    slot[0] += 1
                    slot[1] += unique
                    slot[2] += cost
    return count, [camp, geo, tok]


CONVERSION_LAYOUTS = (
    ("basis", "q", "is_test", "campaign_id", "traffic_source_id", "offer_id", "source", "event",
     "flags"),
    ("q", "is_test", "campaign_id", "traffic_source_id", "basis", "offer_id",
     "country", "device", "os", "browser", "source", "event", "flags"),
    ("name", "q", "is_test", "campaign_id", "traffic_source_id", "basis", "value", "source",
     "event"),
)  # fmt: skip


def source_index(table: Table) -> int:
    """Where `source` is in a conversion rollup's fold key (its primary key without level)."""
    return _pk(table).index("source") - 1


def fold_ledger(rows: Iterable[Any], network_of: dict[int, int]) -> tuple[int, list[Acc]]:
    """Level-0 sums of ledger rows per conversion family, both bases."""
    camp: Acc = {}
    conv: Acc = {}
    tok: Acc = {}
    count = 0
    for fact in ledger_facts(rows, network_of, (0, 1)):
        count += fact.basis == 0
        d = fact.dims
        base = (fact.q, fact.is_test, d["campaign_id"], d["traffic_source_id"], fact.basis)
        tail = (d["source"], fact.event)
        flags = d["flags"]
        _add(camp, (fact.basis, *base[:-1], d["offer_id"], *tail, flags), fact.metrics)
        geo = (d["offer_id"], d["country"], d["device"], d["os"], d["browser"], *tail, flags)
        _add(conv, (*base, *geo), fact.metrics)
        for name, value in fact.tokens.items():
            _add(tok, (name, *base, value, *tail), fact.metrics)
    return count, [camp, conv, tok]


def with_levels(acc: Acc, q_at: int, top: int = 2) -> Acc:
    """Level-0 sums as rows of every level up to `top`: (level, *key) -> metrics."""
    out: Acc = {(0, *key): vals for key, vals in acc.items()}
    for level in range(1, top + 1):
        size = LEVELS[level]
        for key, vals in acc.items():
            q = key[q_at]
            coarse = (level, *key[:q_at], q - q % size, *key[q_at + 1 :])
            slot = out.get(coarse)
            if slot is None:
                out[coarse] = list(vals)
            else:
                for i, m in enumerate(vals):
                    slot[i] += m
    return out


# --- writing -----------------------------------------------------------------------------------

_PG = postgresql.dialect()


@functools.lru_cache(maxsize=256)
def _pg_type_of(kind: TypeEngine[Any]) -> str:
    """The PostgreSQL type the schema gives a column, for an array cast. A string column's
    length is left off: a cast to varchar(n) would cut longer text silently."""
    compiled = kind.compile(dialect=_PG).lower()
    return "text" if compiled.startswith(("varchar", "text")) else compiled


def _pg_type(column: Any) -> str:
    # From the schema, never a hand map: BIGINT is a subclass of INTEGER to SQLAlchemy, and a
    # map searched by isinstance cast every int8 column to int4[].
    return _pg_type_of(column.type)


def _pg_array(values: Sequence[Any], kind: str) -> str:
    """An array literal: psycopg's per-element list adaptation cost more than the upsert."""
    if kind == "boolean":
        return "{" + ",".join("t" if v else "f" for v in values) + "}"
    if kind == "text":
        quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
        return "{" + ",".join(f'"{v}"' for v in quoted) + "}"
    return "{" + ",".join(map(str, values)) + "}"


def upsert_sql(table: Table, metrics: Sequence[str], dialect: str) -> str:
    keys = _pk(table)
    cols = [*keys, *metrics]
    adds = ", ".join(f"{m} = {table.name}.{m} + excluded.{m}" for m in metrics)
    tail = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {adds}"
    if dialect == "postgresql":
        arrays = ", ".join(f"%s::{_pg_type(table.c[c])}[]" for c in cols)
        return f"INSERT INTO {table.name} ({', '.join(cols)}) SELECT * FROM unnest({arrays}) {tail}"
    marks = ", ".join("?" for _ in cols)
    return f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({marks}) {tail}"


def write(conn: Connection, table: Table, metrics: Sequence[str], acc: Acc) -> None:
    """Add `acc` ((level, *key) -> metrics, in the table's key order) to the rollup."""
    if not acc:
        return
    dialect = conn.dialect.name
    sql = upsert_sql(table, metrics, dialect)
    rows = [(*key, *vals) for key, vals in acc.items()]
    types = [_pg_type(table.c[c]) for c in [*_pk(table), *metrics]]
    for i in range(0, len(rows), CHUNK):
        chunk = rows[i : i + CHUNK]
        if dialect == "postgresql":
            columns = zip(*chunk, strict=True)
            conn.exec_driver_sql(sql, tuple(map(_pg_array, columns, types)))
        else:
            conn.exec_driver_sql(sql, chunk)


def store_visitors(conn: Connection, day: int, new: set[Visitor]) -> None:
    """Add day `day`'s new visitors; older days can no longer get clicks folded, so go. One
    statement per CHUNK rows: on PostgreSQL an executemany sent one per visitor, and with a new
    visitor in most clicks that took a third of the fold."""
    table: Table = ReportVisitor.__table__  # type: ignore[assignment]
    conn.execute(table.delete().where(table.c.day < day))
    rows = [visitor for visitor in new if visitor[2] == day]
    cols = [c.name for c in table.columns]
    into = f"INSERT INTO {table.name} ({', '.join(cols)})"
    types = [_pg_type(c) for c in table.columns]
    casts = ", ".join(f"%s::{t}[]" for t in types)
    for i in range(0, len(rows), CHUNK):
        chunk = rows[i : i + CHUNK]
        if conn.dialect.name == "postgresql":
            arrays = tuple(map(_pg_array, zip(*chunk, strict=True), types))
            conn.exec_driver_sql(f"{into} SELECT * FROM unnest({casts})", arrays)
        else:
            conn.exec_driver_sql(f"{into} VALUES ({', '.join('?' for _ in cols)})", chunk)


def fold(
    conn: Connection,
    since: datetime,
    until: datetime,
    seen: set[Visitor] | None = None,
    late: tuple[Sequence[str], Sequence[int]] = ((), ()),
) -> int:
    """Add clicks and ledger rows stamped in [since, until), and the `late` clicks and ledger
    rows (ids from report_late_rows) stamped before `since`, to the rollups; returns clicks and
    conversions read. `seen`: the visitors of since's UTC day, when the caller has them."""
    day = q_of(since) // PER_DAY
    if seen is None:
        seen = queries.visitors_of_day(conn, day)
    late_clicks = queries.fold_late_click_rows(conn, late[0], since) if late[0] else []
    _count_earlier_days(conn, late_clicks, day, seen)
    rows = [*late_clicks, *queries.fold_click_rows(conn, since, until)]
    ledger = list(queries.fetch_late_ledger(conn, late[1], since)) if late[1] else []
    ledger.extend(queries.fetch_ledger(conn, since, until))
    return fold_rows(conn, rows, ledger, seen, until)


def fold_rows(
    conn: Connection,
    rows: Sequence[Any],
    ledger: Sequence[Any],
    seen: set[Visitor],
    until: datetime,
) -> int:
    """Add clicks `rows` (as `queries.fold_click_rows` reads them, in (created_at, id) order)
    and `ledger` rows to the rollups, with the visitors of `until`'s UTC day kept; `seen` gains
    the new visitors. The fold's second half, which also folds the pieces of a slice that
    failed (reports/isolation.py)."""
    new: list[Visitor] = []
    clicks, click_accs = fold_clicks(rows, seen, new)
    changes, conv_accs = fold_ledger(ledger, queries.networks_by_offer(conn) if ledger else {})
    for families, accs, metrics in (
        (CLICK_FAMILIES, click_accs, CLICK_METRICS),
        (CONVERSION_FAMILIES, conv_accs, CONV_METRICS),
    ):
        for family, acc in zip(families, accs, strict=True):
            q_at = _pk(family.table).index("q") - 1
            write(conn, family.table, metrics, with_levels(acc, q_at, family.top))
    store_visitors(conn, q_of(until) // PER_DAY, set(new))
    return clicks + changes


def _count_earlier_days(
    conn: Connection, clicks: Sequence[Any], day: int, seen: set[Visitor]
) -> None:
    """Add to `seen` the visitors of late clicks stamped on a UTC day before `day` whose visitor
    was already counted that day: report_visitors keeps only the watermark's day, so the raw
    clicks tell. (A late click never takes the credit from a click already folded; the day's
    count of unique visitors stays exact.)"""
    for ident, q, campaign, *_dims, ip, _tokens, _ext, _cost, _test, _flags in clicks:
        visitor = (campaign, ip or ident, q // PER_DAY)
        earlier = ip and visitor[2] < day and visitor not in seen
        if earlier and queries.visitor_counted(conn, campaign, ip, visitor[2], ident):
            seen.add(visitor)


@contextlib.contextmanager
def collector_paused() -> Any:
    """The fold (and a report) makes many small tuples and lists that live until it ends; the
    cyclic garbage collector, run over and over on them, took a sixth of the fold and a fifth of
    a wide report. Neither makes cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Aggregator:
    def __init__(self, engine: Engine, lag: timedelta = LAG, rows: int = ROWS) -> None:
        self.engine = engine
        self.lag = lag
        self.rows = rows
        self._stop = asyncio.Event()
        # The visitors of the watermark's UTC day, as this aggregator left them: reused while
        # the watermark is still where it put it (no other aggregator has folded since).
        self._seen: tuple[datetime, set[Visitor]] | None = None
        # The last fold left late entries unread (more than ROWS were waiting): fold again.
        self._more_late = False

    def fold_once(self, until: datetime | None = None) -> tuple[datetime, int]:
        """Fold at most ROWS clicks and ROWS ledger rows towards `until` (default: now - LAG),
        and as many late ones; returns the new watermark and the rows folded."""
        from postback.reports.isolation import error_text, is_row_error

        target = until or datetime.now(UTC) - self.lag
        isolating = False
        for attempt in range(RETRIES):
            try:
                with self.engine.begin() as conn:
                    queries.claim(conn, target)
                return self._fold(target, isolating)
            except Exception as exc:
                self._seen = None
                if not isolating and is_row_error(exc):
                    # Maybe one row's value: fold the slice again in pieces (reports/isolation.py).
                    why = error_text(exc)
                    log.info("report fold failed (%s); folding its slice piece by piece", why)
                    isolating = True
                    continue
                state = getattr(getattr(exc, "orig", None), "sqlstate", None)
                if state not in RETRYABLE:
                    raise
                if attempt + 1 == RETRIES:
                    if state != SERIALIZATION_FAILURE:
                        raise
                    return self._overtaken(exc)
                log.info("report fold overtaken by another aggregator; folding again")
                # Jittered: two aggregators retrying in step overtake each other again.
                time.sleep(random.uniform(0, BACKOFF * 2**attempt))
        raise AssertionError("unreachable")

    def _overtaken(self, exc: Exception) -> tuple[datetime, int]:
        """Every try was overtaken: another aggregator's claims and folds committed meanwhile,
        so it is folding (each overtaking commit moved its claim or its watermark on). Leave it
        the work: return the watermark as it is, nothing folded here. Before the first fold
        there is no watermark to return, so the error stands."""
        with self.engine.connect() as conn:
            mark = queries.read_watermark(conn)
        if mark is None:
            raise exc
        log.info("report fold overtaken %d times; another aggregator is folding", RETRIES)
        return mark, 0

    def _fold(self, target: datetime, isolating: bool = False) -> tuple[datetime, int]:
        cached, self._seen = self._seen, None
        self._more_late = False
        with self._snapshot() as conn:
            prev = queries.read_watermark(conn, lock=True)
            start = prev if prev is not None else (queries.first_activity(conn) or target)
            new = max(start, queries.slice_end(conn, start, target, self.rows))
            late = queries.late_entries(conn, self.rows)
            if new == start and not any(late):
                if prev is None:
                    queries.write_watermark(conn, start)
                return start, 0
            seen = cached[1] if cached is not None and cached[0] == prev else None
            if seen is None:
                seen = queries.visitors_of_day(conn, q_of(start) // PER_DAY)
            with collector_paused():
                if isolating:
                    from postback.reports import isolation

                    count = isolation.fold_slice(conn, start, new, seen, late).count
                else:
                    count = fold(conn, start, new, seen, late)
            queries.drop_late_entries(conn, *late)
            # Entries left unread (more than ROWS were waiting) wait for the next fold; those
            # of rows the range has just folded must not (queries.drop_late_entries_between).
            self._more_late = max(len(late[0]), len(late[1])) >= self.rows
            if self._more_late and new > start:
                queries.drop_late_entries_between(conn, start, new)
            queries.write_watermark(conn, new)
        day = q_of(new) // PER_DAY
        if q_of(start) // PER_DAY != day or late[0]:
            seen = {v for v in seen if v[2] == day}
        self._seen = (new, seen)
        return new, count

    def refold_skipped(self) -> tuple[int, int]:
        """Fold the rows in report_skipped_rows again, each once: (folded, still failing)."""
        from postback.reports.isolation import refold

        try:
            return refold(self._snapshot, self.rows)
        finally:
            self._seen = None

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """The fold's transaction: one snapshot on PostgreSQL too (REPEATABLE READ), in which a
        late row and its report_late_rows entry are visible together or not at all."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def catch_up(
        self,
        until: datetime | None = None,
        progress: Callable[[datetime, int], None] | None = None,
        share: float = 1.0,
    ) -> int:
        """Fold until the watermark reaches `until` (default: now - LAG).

        With `share` < 1, pause after each slice so that folding holds the database at most
        that share of the time: on SQLite a slice holds the write lock, and the server's
        clicks and postbacks need it between slices, not after the whole backlog."""
        target = until or datetime.now(UTC) - self.lag
        total = 0
        while True:
            started = time.monotonic()
            mark, count = self.fold_once(target)
            total += count
            if progress is not None:
                progress(mark, count)
            if mark >= target and not self._more_late:
                return total
            if share < 1.0:
                time.sleep((time.monotonic() - started) * (1 - share) / share)

    async def run(self) -> None:
        """Fold every INTERVAL seconds until stop(); errors are logged and retried. Rows skipped
        before are tried once more at start-up: an upgrade may have fixed their fault."""
        try:
            folded, failing = await asyncio.to_thread(self.refold_skipped)
            if folded or failing:
                log.info("skipped report rows: %d folded now, %d still fail", folded, failing)
        except Exception:
            log.exception("report rows skipped before could not be folded again; continuing")
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.catch_up, None, None, SERVER_SHARE)
            except Exception:
                log.exception("report aggregation failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), INTERVAL)

    def stop(self) -> None:
        self._stop.set()
