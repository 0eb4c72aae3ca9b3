"""SQL for report_skipped_rows: the clicks and ledger rows the fold could not take (ADR 0015).

Kinds and ids are those of report_late_rows: "click" with the click's id, "ledger" with the
ledger row's id as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from postback.models import ConversionStatusChange, ReportSkippedRow

TABLE: Table = ReportSkippedRow.__table__  # type: ignore[assignment]
ERROR_MAX = 500
CHUNK = 1000


@dataclass(frozen=True)
class Skipped:
    kind: str
    row_id: str
    error: str
    first_seen: datetime
    last_seen: datetime
    attempts: int


def record(conn: Connection, kind: str, row_id: str, error: str, at: datetime) -> None:
    """Name a row the fold skips, or count one more failed attempt of one named before."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(TABLE).values(
        kind=kind, row_id=row_id, error=error[:ERROR_MAX], first_seen=at, last_seen=at, attempts=1
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["kind", "row_id"],
        set_={
            "error": stmt.excluded.error,
            "last_seen": stmt.excluded.last_seen,
            "attempts": TABLE.c.attempts + 1,
        },
    )
    conn.execute(stmt)


def forget(conn: Connection, kind: str, row_ids: Sequence[str]) -> None:
    """The rows are folded now."""
    for i in range(0, len(row_ids), CHUNK):
        chunk = list(row_ids[i : i + CHUNK])
        conn.execute(TABLE.delete().where(TABLE.c.kind == kind, TABLE.c.row_id.in_(chunk)))


def count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(TABLE)).scalar_one()


def ids(conn: Connection, kind: str, after: str = "", limit: int | None = None) -> list[str]:
    """Skipped ids of `kind` past `after`, in order."""
    query = select(TABLE.c.row_id).where(TABLE.c.kind == kind, TABLE.c.row_id > after)
    return list(conn.execute(query.order_by(TABLE.c.row_id).limit(limit)).scalars())


def listing(conn: Connection, limit: int) -> list[Skipped]:
    query = select(TABLE).order_by(TABLE.c.last_seen.desc(), TABLE.c.kind, TABLE.c.row_id)
    return [Skipped(*row) for row in conn.execute(query.limit(limit)).all()]


def ledger_ids(
    conn: Connection, late: Sequence[int], before: datetime, since: datetime, until: datetime
) -> list[int]:
    """The ledger rows a fold of [since, until) with late ids `late` takes: those of `late`
    stamped before `before`, and those stamped in [since, until), in id order."""
    table = ConversionStatusChange
    found: list[int] = []
    for i in range(0, len(late), CHUNK):
        query = select(table.id).where(table.id.in_(late[i : i + CHUNK]), table.at < before)
        found.extend(conn.execute(query).scalars())
    if since < until:
        query = select(table.id).where(table.at >= since, table.at < until)
        found.extend(conn.execute(query.order_by(table.id)).scalars())
    return found
