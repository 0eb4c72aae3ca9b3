"""What commands print: rich for people, plain CSV and JSON for pipes."""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from postback.demo import DemoResult

# soft_wrap: long URLs must stay on one line to be copied; errors go to stderr via `note`.
out = Console(highlight=False, soft_wrap=True)
note = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOpt = Annotated[Format, typer.Option("--format", help="Output format.")]


def step(message: str) -> None:
    note.print(f"[dim]demo: {escape(message)}[/]")


def print_demo(result: DemoResult, fmt: Format) -> None:
    if fmt is Format.json:
        payload: dict[str, Any] = {
            "tracking_url": result.tracking_url,
            "postback_url": result.postback_url,
            "campaign_id": result.campaign_id,
            "results": {row["metric"]: row["value"] for row in result.rows()},
        }
        out.print_json(json.dumps(payload))
        return
    if fmt is Format.table:
        out.print()
        out.print("[bold]Tracking link[/] (paste into your traffic source):")
        out.print(f"  {escape(result.tracking_url)}")
        out.print("[bold]Postback URL[/] (paste into your affiliate network):")
        out.print(f"  {escape(result.postback_url)}")
    emit(result.rows(), fmt, title="Demo results")


def emit(rows: list[dict[str, Any]], fmt: Format, title: str | None = None) -> None:
    """Print rows as a rich table, CSV or JSON; the machine formats carry no decoration."""
    if fmt is Format.json:
        out.print_json(json.dumps(rows))
        return
    columns = list(rows[0]) if rows else []
    if fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        out.file.write(buf.getvalue())
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column == "value" else "left")
    for row in rows:
        table.add_row(*(escape(str(row[c])) for c in columns))
    out.print(table)
