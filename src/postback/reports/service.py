"""A report: rollups for what the aggregator has folded, raw rows for the rest, in one snapshot.

Below the watermark the narrowest rollup that has the asked dimensions answers, read in blocks
(UTC days, hours, quarters) that never straddle a local period; above it, the raw clicks and
ledger rows are folded here by the aggregator's own rules. Without a fitting rollup every raw
row is folded: exact, only slower.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, Table, cast, literal_column
from sqlalchemy.orm import Session

from postback.kit.fields import field_error
from postback.reports import queries, skipped
from postback.reports.aggregator import collector_paused
from postback.reports.blocks import Plan, cuts, plan
from postback.reports.dimensions import (
    CLICK_FAMILIES,
    COLUMNS,
    CONVERSION_FAMILIES,
    ID_DIMS,
    Family,
    choose,
    token_name,
)
from postback.reports.facts import (
    CLICK_METRICS,
    CONV_METRICS,
    Fact,
    click_facts,
    ledger_facts,
)
from postback.reports.metrics import Sums, metrics, sort_value, total
from postback.reports.periods import (
    PER_DAY,
    TIME_UNITS,
    Spans,
    boundary_test,
    key_py,
    key_sql,
    label,
    moment_of,
    q_of,
    spans_for,
)
from postback.reports.schemas import ReportQuery


@dataclass
class Report:
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    total_rows: int
    # Rows the fold could not take, left out of every report until refolded (ADR 0015).
    skipped_rows: int = 0


@dataclass
class _Run:
    query: ReportQuery
    spans: Spans
    a: int
    b: int
    groups: dict[tuple[Any, ...], Sums]
    mark: int = 0  # the watermark's bucket
    skipped: int = 0  # rows in report_skipped_rows: the raw paths leave them out too
    cuts: list[int] | None = None  # period boundaries in the range, for every rollup's plan
    blocks: dict[str, Plan] = field(default_factory=dict)  # by rollup family

    def sums(self, key: tuple[Any, ...]) -> Sums:
        found = self.groups.get(key)
        if found is None:
            found = self.groups[key] = Sums()
        return found


def snapshot(session: Session) -> Connection:
    """The session's connection in one snapshot for the watermark, the rollups and the raw
    tail, or a fold committing in between would be counted twice. SQLite's deferred read
    transaction already is one; PostgreSQL needs REPEATABLE READ."""
    pg = session.get_bind().dialect.name == "postgresql"
    options = {"isolation_level": "REPEATABLE READ"} if pg else {}
    return session.connection(execution_options=options)


def run_report(conn: Connection, query: ReportQuery) -> Report:
    """Answer `query`; `conn` must be in a snapshot transaction (`snapshot`)."""
    a, b = q_of(query.start), q_of(query.end)
    run = _Run(query, spans_for(query.zone, a, b), a, b, {})
    queries.serial(conn)
    mark = queries.read_watermark(conn)
    run.mark = q_of(mark) if mark is not None else run.a
    run.skipped = skipped.count(conn)
    asked = set(query.group_by) | set(query.filters)
    asked -= set(TIME_UNITS)
    network_of = queries.networks_by_offer(conn)
    with collector_paused():
        _clicks(conn, run, mark, choose(CLICK_FAMILIES, asked), network_of)
        _conversions(conn, run, mark, choose(CONVERSION_FAMILIES, asked), network_of)
        return _render(conn, run)


# --- clicks and conversions: rollups + tail, or raw ------------------------------------------


def _clicks(
    conn: Connection, run: _Run, mark: datetime | None, family: Family | None, net: dict[int, int]
) -> None:
    if family is None or mark is None:
        day_start = moment_of((run.a // PER_DAY) * PER_DAY)
        rows = queries.fetch_clicks(conn, day_start, run.query.end)
        if run.skipped:
            left_out = set(skipped.ids(conn, "click"))
            rows = [row for row in rows if row.id not in left_out]
        _fold(run, click_facts(rows, set(), net))
        return
    for key, vals in _rollup(conn, run, family, CLICK_METRICS, None):
        run.sums(key).add_clicks(vals)
    tail = queries.fetch_clicks(conn, mark, None)
    if tail:
        seen = queries.visitors_among(conn, q_of(mark) // PER_DAY, tail)
        _fold(run, click_facts(tail, seen, net))


def _conversions(
    conn: Connection, run: _Run, mark: datetime | None, family: Family | None, net: dict[int, int]
) -> None:
    for basis in run.query.bases:
        if family is None or mark is None:
            start, end = run.query.start, run.query.end
            rows = queries.fetch_ledger_for(conn, basis, start, end, skip=run.skipped > 0)
            _fold(run, ledger_facts(rows, net, (basis,)))
            continue
        for key, vals in _rollup(conn, run, family, CONV_METRICS, basis):
            *group, event = key
            run.sums(tuple(group)).add_conversions(basis, event, vals)
    if family is not None and mark is not None:
        _fold(run, ledger_facts(queries.fetch_ledger(conn, mark, None), net, run.query.bases))


def _fold(run: _Run, facts: Iterable[Fact]) -> None:
    q = run.query
    for fact in facts:
        if not run.a <= fact.q < run.b or (fact.is_test and not q.include_test):
            continue
        values = _fact_values(fact, run)
        if values is None or not _passes(values, q.filters):
            continue
        key = tuple(values[d] for d in q.group_by)
        if len(fact.metrics) == len(CLICK_METRICS):
            run.sums(key).add_clicks(fact.metrics)
        else:
            run.sums(key).add_conversions(fact.basis, fact.event, fact.metrics)


def _fact_values(fact: Fact, run: _Run) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    for dim in {*run.query.group_by, *run.query.filters}:
        name = token_name(dim)
        if dim in TIME_UNITS:
            values[dim] = key_py(dim, fact.q, run.spans)
        elif name is not None:
            if name not in fact.tokens:
                return None  # grouping or filtering by a token counts clicks that carry it
            values[dim] = fact.tokens[name]
        else:
            values[dim] = fact.dims[COLUMNS[dim]]
    return values


def _passes(values: dict[str, Any], filters: dict[str, tuple[Any, ...]]) -> bool:
    return all(values[dim] in allowed for dim, allowed in filters.items())


def _rollup(
    conn: Connection, run: _Run, family: Family, metrics_: tuple[str, ...], basis: int | None
) -> Iterable[tuple[tuple[Any, ...], Any]]:
    table = family.table
    keys_of, where, source = _columns(run, table, basis)
    blocks = run.blocks.get(table.name)
    if blocks is None:  # one plan for both conversion bases
        blocks = run.blocks[table.name] = _plan(conn, run, family, where, source)
    parts = [
        queries.rollup_select(table, term, keys_of, metrics_, where, source)
        for term in blocks.terms
    ]
    if not parts:
        return
    names = [name for name, _expr in keys_of(table.c.q)]
    width = len(names)
    # .all(): one fetch for thousands of groups (a token report's) instead of one per row.
    for row in conn.execute(queries.sum_of(parts, names, metrics_)).all():
        # None: an aggregate without a GROUP BY over no rows. All zero: a period whose
        # corrections took away all its straddling blocks gave it (a click counts 1, and so
        # does a conversion's first ledger row, in the group of all its rows).
        if not any(row[width:]):
            continue
        yield tuple(row[:width]), row[width:]


def _plan(conn: Connection, run: _Run, family: Family, where: list[Any], source: Any) -> Plan:
    """The blocks to read, weighed by the rollup's density on the last folded UTC day of the
    range (the day before the watermark's, if that comes first)."""
    if run.cuts is None:
        units = [d for d in run.query.group_by if d in TIME_UNITS]
        run.cuts = cuts(run.a, run.b, boundary_test(units, run.spans))
    day = (min(run.b, run.mark) // PER_DAY - 1) * PER_DAY

    def weigh() -> Any:
        return queries.rows_per_block(conn, source, family.table, where, day)

    return plan(run.a, run.b, run.cuts, family.top, weigh, empty_from=run.mark + 1)


def _columns(
    run: _Run, table: Table, basis: int | None
) -> tuple[Callable[[Any], list[tuple[str, Any]]], list[Any], Any]:
    """(the report's keys of a bucket expression, the WHERE terms, the FROM)."""
    q = run.query
    where: list[Any] = [] if q.include_test else [table.c.is_test.is_(False)]
    if basis is not None:
        where.append(table.c.basis == basis)
    source: Any = table
    exprs: dict[str, Any] = {}
    for dim in {*q.group_by, *q.filters} - set(TIME_UNITS):
        name = token_name(dim)
        if name is not None:
            where.append(table.c.name == name)
            exprs[dim] = table.c.value
        elif dim == "network":
            exprs[dim], offers = queries.network_of_offer(table)
            source = table.outerjoin(offers, offers.c.id == table.c.offer_id)
        elif COLUMNS[dim] not in table.c:  # a conversion's key on a click rollup: none
            # A cast, not a bare '': PostgreSQL refuses a constant in GROUP BY.
            exprs[dim] = cast(literal_column("''"), String(12))
        else:
            exprs[dim] = table.c[COLUMNS[dim]]
    for dim, allowed in q.filters.items():  # never a time unit (schemas)
        where.append(exprs[dim].in_(allowed))
    event = [("event", table.c.event)] if basis is not None else []

    def keys_of(bucket: Any) -> list[tuple[str, Any]]:
        def expr(dim: str) -> Any:
            return key_sql(dim, bucket, run.spans) if dim in TIME_UNITS else exprs[dim]

        return [(f"g{i}", expr(d)) for i, d in enumerate(q.group_by)] + event

    return keys_of, where, source


# --- output ------------------------------------------------------------------------------


def _render(conn: Connection, run: _Run) -> Report:
    q = run.query
    if q.sort is not None and not known_sort(q.sort, q):
        raise field_error("sort", f"{q.sort!r} is not a metric or a grouped dimension")
    named = queries.names(conn) if ID_DIMS & set(q.group_by) else {}
    found = (item for item in run.groups.items() if not item[1].empty())
    groups = sorted(found, key=lambda item: tuple(map(_natural, item[0])))
    rows = []
    for key, sums in groups:
        row: dict[str, Any] = {}
        for dim, value in zip(q.group_by, key, strict=True):
            row.update(_dimension(dim, value, run, named))
        row.update(metrics(sums, q.bases))
        rows.append(row)
    rows = _sorted(rows, q)
    end = None if q.limit is None else q.offset + q.limit
    totals = total(list(run.groups.values()))  # every fact counted lands in exactly one group
    return Report(rows[q.offset : end], metrics(totals, q.bases), len(rows), run.skipped)


def _natural(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int) else (1, str(value))


def _dimension(dim: str, value: Any, run: _Run, named: dict[str, dict[int, str]]) -> dict[str, Any]:
    if dim in TIME_UNITS:
        return {dim: label(dim, int(value), run.query.zone)}
    if dim in ID_DIMS:
        ident = int(value) or None
        return {dim: ident, f"{dim}_name": named[dim].get(ident) if ident else None}
    return {dim: value if value != "" or token_name(dim) else None}


def _sorted(rows: list[dict[str, Any]], q: ReportQuery) -> list[dict[str, Any]]:
    """Time order when grouped by time and nothing else is asked, else by `sort`; rows without
    a value (no conversions for CPA, no cost for ROI) come last either way."""
    if q.sort is None and any(d in TIME_UNITS for d in q.group_by):
        return rows  # already in key order
    field = q.sort or "clicks"
    missing = [r for r in rows if r.get(field) is None]
    present = [r for r in rows if r.get(field) is not None]
    if field in q.group_by:
        present.sort(key=lambda r: str(r[field]), reverse=q.descending)
    else:
        present.sort(key=lambda r: sort_value(r[field]), reverse=q.descending)
    return present + missing


def known_sort(field: str, q: ReportQuery) -> bool:
    return field in metrics(Sums(), q.bases) or field in q.group_by
