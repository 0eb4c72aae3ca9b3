"""`postback reports`: the rows the report fold could not take, and folding them again."""

from __future__ import annotations

from typing import Annotated

import typer

from postback.cli.app import app
from postback.cli.output import Format, FormatOpt, emit, note, out
from postback.config import Settings

reports_app = typer.Typer(help="Rows the report fold skipped: list them, fold them again.")
app.add_typer(reports_app, name="reports")


@reports_app.command("skipped")
def list_skipped(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    fmt: FormatOpt = Format.table,
) -> None:
    """Clicks and ledger rows left out of reports because the fold failed on them alone."""
    from postback.kit.db import Database
    from postback.reports import skipped

    db = Database(Settings())
    try:
        with db.reader.connect() as conn:
            total = skipped.count(conn)
            found = skipped.listing(conn, limit)
    finally:
        db.dispose()
    rows = [
        {
            "kind": row.kind,
            "row_id": row.row_id,
            "attempts": row.attempts,
            "first_seen": row.first_seen.isoformat(timespec="seconds"),
            "last_seen": row.last_seen.isoformat(timespec="seconds"),
            "error": row.error,
        }
        for row in found
    ]
    emit(rows, fmt, title=f"Rows left out of reports: {total}")
    if fmt is Format.table and not total:
        note.print("no rows skipped: reports hold every recorded click and ledger row")


@reports_app.command("refold")
def refold() -> None:
    """Fold the skipped rows again (after an upgrade or a fix); each failure counts an attempt.
    The server also does this once each time it starts."""
    from postback.kit.db import Database
    from postback.reports.aggregator import Aggregator

    db = Database(Settings())
    try:
        folded, failing = Aggregator(db.engine).refold_skipped()
    finally:
        db.dispose()
    out.print(f"{folded} row(s) folded into reports, {failing} still fail")
    if failing:
        raise typer.Exit(1)
