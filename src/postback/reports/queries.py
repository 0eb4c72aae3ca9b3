"""SQL for reports: raw clicks and ledger rows, rollup reads and upserts, the watermark.

One SQL text for SQLite and PostgreSQL except the upsert, whose INSERT construct is per dialect
(both render ON CONFLICT ... DO UPDATE).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    String,
    Table,
    Text,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite

from postback.kit.ids import ulid_floor
from postback.models import (
    Campaign,
    Click,
    Conversion,
    ConversionStatusChange,
    Lander,
    Network,
    Offer,
    ReportLateRow,
    ReportSkippedRow,
    ReportVisitor,
    ReportWatermark,
    TrafficSource,
)
from postback.reports.blocks import Term
from postback.reports.periods import LEVELS, PER_DAY, moment_of, q_of
from postback.reports.periods import QUARTER as QUARTER_SECONDS

# A click's ULID and its created_at are taken microseconds apart; raw clicks are found by id
# range (the primary key) with this much slack, then selected exactly by created_at.
ID_SLACK = timedelta(seconds=2)
WATERMARK = "rollups"
MIN_SLICE = timedelta(milliseconds=1)
IN_LIST_MAX = 1000

_CLICK_COLUMNS = (
    Click.id,
    Click.created_at,
    Click.campaign_id,
    Click.offer_id,
    Click.traffic_source_id,
    Click.country,
    Click.device,
    Click.os,
    Click.browser,
    Click.ip,
    Click.tokens,
    Click.external_id,
    Click.cost_micros,
    Click.is_test,
    Click.lander_id,
    Click.flags,
)


def fetch_clicks(conn: Connection, since: datetime, until: datetime | None) -> Sequence[Any]:
    """Clicks with since <= created_at < until, in (created_at, id) order."""
    query = select(*_CLICK_COLUMNS).where(
        Click.id >= ulid_floor(since - ID_SLACK), Click.created_at >= since
    )
    if until is not None:
        query = query.where(Click.id < ulid_floor(until + ID_SLACK), Click.created_at < until)
    return conn.execute(query.order_by(Click.created_at, Click.id)).all()


def fold_click_rows(conn: Connection, since: datetime, until: datetime) -> Sequence[Any]:
    """Clicks with since <= created_at < until, in (created_at, id) order, as the aggregator
    reads them: the 15-minute bucket `q` instead of created_at (the same floor as `q_of`, taken
    in SQL), tokens as their JSON text, and no result processing (it cost more than the fold's
    own sums): (id, q, campaign, offer, source, country, device, os, browser, ip, tokens,
    external_id, cost, is_test, flags)."""
    query = _fold_click_select(conn).where(
        Click.id >= ulid_floor(since - ID_SLACK),
        Click.id < ulid_floor(until + ID_SLACK),
        Click.created_at >= since,
        Click.created_at < until,
    )
    return conn.execute(query.order_by(Click.created_at, Click.id)).all()


def fold_late_click_rows(conn: Connection, ids: Sequence[str], before: datetime) -> list[Any]:
    """The clicks of `ids` stamped before `before` (the late ones a fold's range does not
    cover), as `fold_click_rows` reads them, in (created_at, id) order."""
    found: list[Any] = []
    for i in range(0, len(ids), IN_LIST_MAX):
        chunk = ids[i : i + IN_LIST_MAX]
        query = _fold_click_select(conn, Click.created_at)
        found.extend(conn.execute(query.where(Click.id.in_(chunk), Click.created_at < before)))
    found.sort(key=lambda row: (row[-1], row[0]))
    return [tuple(row[:-1]) for row in found]


def _fold_click_select(conn: Connection, *extra: Any) -> Any:
    if conn.dialect.name == "postgresql":
        seconds = cast(func.floor(func.extract("epoch", Click.created_at)), BigInteger)
        tokens: Any = cast(Click.tokens, Text)
    else:
        seconds = cast(func.strftime("%s", type_coerce(Click.created_at, String)), BigInteger)
        tokens = type_coerce(Click.tokens, String)
    return select(
        Click.id,
        type_coerce(seconds // QUARTER_SECONDS, Integer),
        Click.campaign_id,
        type_coerce(Click.offer_id, Integer),
        type_coerce(Click.traffic_source_id, Integer),
        Click.country,
        Click.device,
        Click.os,
        Click.browser,
        Click.ip,
        tokens,
        Click.external_id,
        type_coerce(Click.cost_micros, Integer),
        type_coerce(Click.is_test, Integer),
        Click.flags,
        *extra,
    )


def _ledger_select() -> Any:
    return (
        select(
            ConversionStatusChange.from_status,
            ConversionStatusChange.to_status,
            ConversionStatusChange.revenue_delta_micros,
            ConversionStatusChange.cost_delta_micros,
            ConversionStatusChange.amount_delta_micros,
            ConversionStatusChange.source,
            Conversion.created_at.label("conv_at"),
            Conversion.click_at,
            Conversion.campaign_id,
            Conversion.offer_id,
            Conversion.traffic_source_id,
            Conversion.event,
            Conversion.is_test,
            Conversion.flags,
            Click.lander_id,
            Click.country,
            Click.device,
            Click.os,
            Click.browser,
            Click.tokens,
            Click.external_id,
        )
        .join(Conversion, Conversion.id == ConversionStatusChange.conversion_id)
        .outerjoin(Click, Click.id == Conversion.click_id)
    )


def fetch_ledger(conn: Connection, since: datetime | None, until: datetime | None) -> Sequence[Any]:
    """Ledger rows with since <= at < until, joined to their conversion and click."""
    query = _ledger_select()
    if since is not None:
        query = query.where(ConversionStatusChange.at >= since)
    if until is not None:
        query = query.where(ConversionStatusChange.at < until)
    return conn.execute(query).all()


def fetch_late_ledger(conn: Connection, ids: Sequence[int], before: datetime) -> list[Any]:
    """The ledger rows of `ids` stamped before `before`, as `fetch_ledger` reads them."""
    found: list[Any] = []
    for i in range(0, len(ids), IN_LIST_MAX):
        query = _ledger_select().where(
            ConversionStatusChange.id.in_(ids[i : i + IN_LIST_MAX]),
            ConversionStatusChange.at < before,
        )
        found.extend(conn.execute(query).all())
    return found


def fetch_folded_ledger_of(
    conn: Connection, source: str, mark: datetime, late: Sequence[int]
) -> list[Any]:
    """The ledger rows counted under `source` that are in the rollups: stamped before the
    watermark `mark`, not waiting in report_late_rows (`late`, their ids) and not skipped."""
    query = _ledger_select().where(
        ConversionStatusChange.source == source,
        ConversionStatusChange.at < mark,
        cast(ConversionStatusChange.id, String).not_in(skipped_ids("ledger")),
    )
    waiting = set(late)
    return [
        row
        for row in conn.execute(query.add_columns(ConversionStatusChange.id))
        if row.id not in waiting
    ]


def fetch_ledger_for(
    conn: Connection, basis: int, start: datetime, end: datetime, skip: bool = False
) -> Sequence[Any]:
    """Every ledger row of the conversions whose conversion (0) or click (1) time is in range;
    with `skip`, but those the fold skipped (report_skipped_rows)."""
    moment = Conversion.created_at if basis == 0 else Conversion.click_at
    query = _ledger_select().where(moment >= start, moment < end)
    if skip:
        ident = cast(ConversionStatusChange.id, String)
        query = query.where(ident.not_in(skipped_ids("ledger")))
    return conn.execute(query).all()


def skipped_ids(kind: str) -> Any:
    """The ids of `kind` ("click", "ledger") in report_skipped_rows, for an IN."""
    table: Table = ReportSkippedRow.__table__  # type: ignore[assignment]
    return select(table.c.row_id).where(table.c.kind == kind)


def networks_by_offer(conn: Connection) -> dict[int, int]:
    rows = conn.execute(select(Offer.id, Offer.network_id)).all()
    return {offer_id: network_id or 0 for offer_id, network_id in rows}


def names(conn: Connection) -> dict[str, dict[int, str]]:
    tables: dict[str, Any] = {
        "campaign": Campaign,
        "offer": Offer,
        "lander": Lander,
        "traffic_source": TrafficSource,
        "network": Network,
    }
    return {dim: dict(conn.execute(select(m.id, m.name)).all()) for dim, m in tables.items()}


# --- rollups -------------------------------------------------------------------------------


def serial(conn: Connection) -> None:
    """No parallel workers for the rest of the report's transaction on PostgreSQL. A report's
    statement sums up to four levels' index reads under one GROUP BY; PostgreSQL planned it as
    a Parallel Append of those reads (one per worker, each read itself serial) under a Gather
    Merge, and the workers' start-up and the merge of their groups (estimated at 200 for a
    token's values, thousands in fact) cost more than the reads: ADR 0009."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")


def rollup_select(
    table: Table,
    term: Term,
    keys_of: Callable[[Any], list[tuple[str, Any]]],
    metrics: Sequence[str],
    where: list[Any],
    source: Any,
) -> Any:
    """SUM of `metrics` (negated for a correction) over a plan term's rows, grouped by
    `keys_of(bucket)`: the report's keys (label, expr) of the bucket the rows count in."""
    q = table.c.q
    bucket: Any = q
    if term.anchor is not None:
        size, pick = term.anchor
        bucket = (q // literal(size)) * literal(size) + literal(pick)
    keys = keys_of(bucket)
    in_range = _in_ranges(q, LEVELS[term.level], term.ranges)
    sums = [func.sum(table.c[m]) for m in metrics]
    query = select(
        *(expr.label(name) for name, expr in keys),
        *((s if term.sign > 0 else -s).label(m) for s, m in zip(sums, metrics, strict=True)),
    )
    query = query.select_from(source).where(table.c.level == term.level, in_range, *where)
    return query.group_by(*(expr for _name, expr in keys))


def rows_per_block(conn: Connection, source: Any, table: Table, where: list[Any], day: int) -> Any:
    """The rollup's rows per quarter, hour and UTC day (levels 0 to 2) on UTC day `day`, one
    in six hours sampled: how dense it is, for the plan's costs (blocks.py)."""
    hours = [day + i * PER_DAY // 4 for i in range(4)]

    def count(level: int, starts: list[int]) -> Any:
        found = select(func.count()).select_from(source)
        found = found.where(table.c.level == level, table.c.q.in_(starts), *where)
        return found.scalar_subquery()

    row = conn.execute(select(count(0, hours), count(1, hours), count(2, [day]))).one()
    return (row[0] / 4, row[1] / 4, row[2])


def sum_of(parts: Sequence[Any], keys: Sequence[str], metrics: Sequence[str]) -> Any:
    """One statement for the levels' grouped sums (`rollup_select`s): the levels' groups are
    added up in SQL, so a report handles each of its groups once, not once per level."""
    if len(parts) == 1:
        return parts[0]
    levels = union_all(*parts).subquery()
    groups = [levels.c[k] for k in keys]
    sums = [func.sum(levels.c[m]).label(m) for m in metrics]
    return select(*groups, *sums).group_by(*groups)


def _in_ranges(q: Any, size: int, ranges: Sequence[tuple[int, int]]) -> Any:
    """q in any of `ranges` (of buckets `size` apart), as an index range the primary key
    (level, q, ...) serves: an IN list of the bucket starts when there are few, else the outer
    range with the pieces as a filter (an OR of ranges alone would scan the whole level)."""
    starts = [start for a, b in ranges for start in range(a, b, size)]
    if len(starts) <= IN_LIST_MAX:
        return q.in_(starts)
    pieces = or_(*(and_(q >= a, q < b) for a, b in ranges))
    return and_(q >= ranges[0][0], q < ranges[-1][1], pieces)


def network_of_offer(table: Table) -> tuple[Any, Any]:
    """(expression, join target) for the network dimension: the offer's network."""
    offers: Table = Offer.__table__  # type: ignore[assignment]
    return func.coalesce(offers.c.network_id, literal(0)), offers


def upsert(
    conn: Connection, table: Table, rows: list[dict[str, Any]], metrics: Sequence[str]
) -> None:
    if not rows:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table)
    keys = [c.name for c in table.primary_key.columns]
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={m: table.c[m] + stmt.excluded[m] for m in metrics}
    )
    conn.execute(stmt, rows)


# --- visitors and watermark ------------------------------------------------------------------


def visitors_of_day(conn: Connection, day: int) -> set[tuple[int, str, int]]:
    rows = conn.execute(
        select(ReportVisitor.campaign_id, ReportVisitor.visitor, ReportVisitor.day).where(
            ReportVisitor.day == day
        )
    ).all()
    return {(r[0], r[1], r[2]) for r in rows}


def visitors_among(conn: Connection, day: int, clicks: Sequence[Any]) -> set[tuple[int, str, int]]:
    """The visitors of day `day` already folded that `clicks` (a raw tail) could meet again:
    all a report needs to tell its tail's unique clicks, without reading the whole day."""
    wanted = sorted(
        {(r.campaign_id, r.ip or r.id) for r in clicks if q_of(r.created_at) // PER_DAY == day}
    )
    columns = (ReportVisitor.campaign_id, ReportVisitor.visitor, ReportVisitor.day)
    key = tuple_(*columns)
    found: set[tuple[int, str, int]] = set()
    for i in range(0, len(wanted), IN_LIST_MAX):
        pairs = [(c, v, day) for c, v in wanted[i : i + IN_LIST_MAX]]
        rows = conn.execute(select(*columns).where(key.in_(pairs))).all()
        found.update((r[0], r[1], r[2]) for r in rows)
    return found


def read_watermark(conn: Connection, lock: bool = False) -> datetime | None:
    """The watermark; None before the first fold. With `lock`, for the fold: on PostgreSQL a
    FOR NO KEY UPDATE, which serialises aggregators but lets writers' triggers (FOR KEY SHARE)
    through, so a fold never holds up the click path."""
    query = select(ReportWatermark.folded_until).where(ReportWatermark.name == WATERMARK)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(key_share=True)
    return conn.execute(query).scalar_one_or_none()


def claim(conn: Connection, until: datetime) -> None:
    """Raise `claimed_until` to `until` (never lower it), in a transaction of its own committed
    before the fold reads anything. On PostgreSQL the row is locked FOR UPDATE, which waits for
    every transaction whose trigger has read the old claim (FOR KEY SHARE) to end: those rows
    are committed before the fold's snapshot, and every row committed later was checked against
    this claim. On SQLite the write lock does the same. ADR 0013."""
    table: Table = ReportWatermark.__table__  # type: ignore[assignment]
    query = select(table.c.claimed_until).where(table.c.name == WATERMARK)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    found = conn.execute(query).one_or_none()
    if found is None:  # the row is made by migration 0014; only a wiped table lacks it
        _recreate_watermark(conn)
        found = conn.execute(query).one()
    if found[0] is None or found[0] < until:
        update = table.update().where(table.c.name == WATERMARK)
        conn.execute(update.values(claimed_until=until))


# The tables whose inserts the late-row triggers watch (migration 0014).
WATCHED_TABLES = ("clicks", "conversion_status_changes")


def _recreate_watermark(conn: Connection) -> None:
    """Make the watermark row again. A writer whose trigger ran while it was missing locked
    nothing and named no late row, so no claim would wait for it and its rows, stamped before
    the claim and committed after the fold's snapshot, would never be folded. On PostgreSQL a
    SHARE lock on the watched tables waits for every such writer to commit and holds new ones
    off until the row is committed, so they find it. On SQLite the write lock does the same."""
    table: Table = ReportWatermark.__table__  # type: ignore[assignment]
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"LOCK TABLE {', '.join(WATCHED_TABLES)} IN SHARE MODE")
        insert: Any = postgresql.insert
    else:
        insert = sqlite.insert
    conn.execute(insert(table).values(name=WATERMARK).on_conflict_do_nothing())


def write_watermark(conn: Connection, until: datetime) -> None:
    table: Table = ReportWatermark.__table__  # type: ignore[assignment]
    conn.execute(table.update().where(table.c.name == WATERMARK).values(folded_until=until))


def late_entries(conn: Connection, limit: int) -> tuple[list[str], list[int]]:
    """Up to `limit` click ids and `limit` ledger ids named in report_late_rows."""
    table: Table = ReportLateRow.__table__  # type: ignore[assignment]

    def ids(kind: str) -> list[str]:
        query = select(table.c.row_id).where(table.c.kind == kind).order_by(table.c.row_id)
        return list(conn.execute(query.limit(limit)).scalars())

    return ids("click"), [int(i) for i in ids("ledger")]


def drop_late_entries(conn: Connection, clicks: Sequence[str], ledger: Sequence[int]) -> None:
    table: Table = ReportLateRow.__table__  # type: ignore[assignment]
    for kind, ids in (("click", list(clicks)), ("ledger", [str(i) for i in ledger])):
        for i in range(0, len(ids), IN_LIST_MAX):
            chunk = ids[i : i + IN_LIST_MAX]
            conn.execute(table.delete().where(table.c.kind == kind, table.c.row_id.in_(chunk)))


def drop_late_entries_between(conn: Connection, since: datetime, until: datetime) -> None:
    """Forget the late entries of rows stamped in [since, until), which a fold's range has just
    folded. Needed when the fold read only some of the entries: one it did not read, for a row
    the range folded, would otherwise make a later fold take that row again (its stamp is then
    before the watermark) and count it twice."""
    late: Table = ReportLateRow.__table__  # type: ignore[assignment]
    clicks = select(Click.id).where(
        Click.id >= ulid_floor(since - ID_SLACK),
        Click.id < ulid_floor(until + ID_SLACK),
        Click.created_at >= since,
        Click.created_at < until,
    )
    changes = select(cast(ConversionStatusChange.id, String)).where(
        ConversionStatusChange.at >= since, ConversionStatusChange.at < until
    )
    for kind, rows in (("click", clicks), ("ledger", changes)):
        conn.execute(late.delete().where(late.c.kind == kind, late.c.row_id.in_(rows)))


def visitor_counted(conn: Connection, campaign: int, ip: str, day: int, click_id: str) -> bool:
    """Whether another click of this visitor on UTC day `day` (before the watermark's day, so
    its visitors are no longer kept) is in the rollups already: any such click but the late
    ones still waiting to be folded and the skipped ones (ADR 0015)."""
    late: Table = ReportLateRow.__table__  # type: ignore[assignment]
    start = moment_of(day * PER_DAY)
    late_ids = select(late.c.row_id).where(late.c.kind == "click")
    waiting = late_ids.union_all(skipped_ids("click"))
    query = select(Click.id).where(
        Click.campaign_id == campaign,
        Click.ip == ip,
        Click.created_at >= start,
        Click.created_at < start + timedelta(days=1),
        Click.id != click_id,
        Click.id.not_in(waiting),
    )
    return conn.execute(query.limit(1)).first() is not None


def slice_end(conn: Connection, start: datetime, target: datetime, rows: int) -> datetime:
    """Where the next fold slice from `start` ends: `target`, or earlier so that the slice holds
    about `rows` clicks and at most `rows` ledger rows (one index range read each)."""
    end = target
    nth_click = conn.execute(
        select(Click.created_at)
        .where(Click.id >= ulid_floor(start - ID_SLACK))
        .order_by(Click.id)
        .offset(rows)
        .limit(1)
    ).scalar()
    nth_change = conn.execute(
        select(ConversionStatusChange.at)
        .where(ConversionStatusChange.at >= start)
        .order_by(ConversionStatusChange.at)
        .offset(rows)
        .limit(1)
    ).scalar()
    for nth in (nth_click, nth_change):
        if nth is not None:
            # Never less than a millisecond, so a burst cannot stall the watermark.
            end = min(end, max(nth, start + MIN_SLICE))
    return end


def first_activity(conn: Connection) -> datetime | None:
    first_click = conn.execute(select(Click.created_at).order_by(Click.id).limit(1)).scalar()
    first_change = conn.execute(select(func.min(ConversionStatusChange.at))).scalar()
    found = [t for t in (first_click, first_change) if t is not None]
    return min(found) - ID_SLACK if found else None
