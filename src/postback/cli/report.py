"""`postback report`: the report of GET /api/v1/reports, read straight from the database."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from postback.cli.app import CliError, app
from postback.cli.output import Format, FormatOpt, note, out
from postback.config import Settings

# The table shows what fits a terminal; --format csv or json has every metric.
_TABLE_METRICS = ("clicks", "conversions", "cr", "revenue", "cost", "profit", "roi", "epc")


@app.command()
def report(
    group_by: Annotated[str, typer.Option(help="Up to 3 dimensions, e.g. day,campaign.")] = "",
    from_: Annotated[str | None, typer.Option("--from", help="Date or ISO time.")] = None,
    to: Annotated[str | None, typer.Option(help="Date (inclusive) or ISO time.")] = None,
    tz: Annotated[str, typer.Option(help="IANA time zone, e.g. Asia/Kolkata.")] = "UTC",
    where: Annotated[
        list[str] | None, typer.Option("--filter", help="dimension=value[,value], repeatable.")
    ] = None,
    count_by: Annotated[str, typer.Option(help="conversion, click or both.")] = "conversion",
    sort: Annotated[str | None, typer.Option(help="Metric or dimension to sort by.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Rows to show.")] = None,
    include_test: Annotated[bool, typer.Option(help="Count test clicks too.")] = False,
    fold: Annotated[bool, typer.Option(help="Bring the rollups up to date first.")] = True,
    fmt: FormatOpt = Format.table,
) -> None:
    """Clicks, conversions, revenue, cost and profit by any dimension, in any time zone."""
    from postback.kit.db import Database
    from postback.reports.aggregator import Aggregator
    from postback.reports.export import csv_chunks
    from postback.reports.schemas import parse_query
    from postback.reports.service import run_report

    params = _params(group_by, from_, to, tz, where or [], count_by, sort, limit, include_test)
    query = parse_query(params, paginate=limit is not None)
    db = Database(Settings())
    try:
        if fold:
            Aggregator(db.engine).catch_up()
        with db.reader.connect() as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            result = run_report(conn, query)
    finally:
        db.dispose()
    if result.skipped_rows:
        note.print(
            f"note: {result.skipped_rows} row(s) could not be folded and are left out of this "
            "report; `postback reports skipped` lists them"
        )
    if fmt is Format.table:
        _print_table(result.rows, result.totals, query.group_by)
        return
    if fmt is Format.csv:
        for chunk in csv_chunks(result):
            out.file.write(chunk)
    else:
        out.print_json(data={"rows": result.rows, "totals": result.totals})


def _params(
    group_by: str,
    from_: str | None,
    to: str | None,
    tz: str,
    where: list[str],
    count_by: str,
    sort: str | None,
    limit: int | None,
    include_test: bool,
) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {"group_by": [group_by], "tz": [tz], "count_by": [count_by]}
    for name, value in (("from", from_), ("to", to), ("sort", sort)):
        if value is not None:
            params[name] = [value]
    if limit is not None:
        params["limit"] = [str(limit)]
    params["include_test"] = ["true" if include_test else "false"]
    for item in where:
        name, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--filter {item!r}: write it as dimension=value")
        params.setdefault(name.strip(), []).append(value)
    return params


def _print_table(rows: list[dict[str, Any]], totals: dict[str, Any], dims: tuple[str, ...]) -> None:
    table = Table(title="Report", title_justify="left", show_footer=True)
    label_of = {d: f"{d}_name" for d in ("campaign", "offer", "traffic_source", "network")}
    for i, dim in enumerate(dims):
        table.add_column(dim, footer="Total" if i == 0 else "")
    for metric in _TABLE_METRICS:
        table.add_column(metric, justify="right", footer=_cell(totals.get(metric)))
    for row in rows:
        cells = [_cell(row.get(label_of.get(d, "")) or row[d]) for d in dims]
        table.add_row(*cells, *(_cell(row.get(m)) for m in _TABLE_METRICS))
    out.print(table)
    if not rows:
        note.print("no clicks or conversions in this range")


def _cell(value: Any) -> str:
    return "-" if value is None else escape(str(value))
