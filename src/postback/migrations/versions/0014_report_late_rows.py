"""report_late_rows: rows committed after a fold passed their timestamp (ADR 0013)

The watermark row gains `claimed_until`, the time the next fold will pass, set in a short
transaction of its own before that fold. A trigger on clicks and on the ledger names every row
inserted with a timestamp before it in report_late_rows, in the row's own transaction, and the
next fold folds the rows named there. On PostgreSQL the trigger is per INSERT statement and
reads `claimed_until` under FOR KEY SHARE, which waits for a claim in progress (FOR UPDATE);
on SQLite, whose writers take turns, it is per row and needs no lock.

The watermark row now always exists (`folded_until` NULL until the first fold), so that a
writer always has a row to lock.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (trigger suffix, table, id column, time column, kind)
WATCHED = (
    ("clicks", "clicks", "id", "created_at", "click"),
    ("ledger", "conversion_status_changes", "id", "at", "ledger"),
)

PG_FUNCTION = """
CREATE FUNCTION report_late_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    claimed timestamptz;
BEGIN
    SELECT claimed_until INTO claimed FROM report_watermarks
        WHERE name = 'rollups' FOR KEY SHARE;
    IF claimed IS NOT NULL THEN
        INSERT INTO report_late_rows (kind, row_id)
            SELECT '{kind}', {ident}::text FROM inserted WHERE {at} < claimed
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$
"""

PG_TRIGGER = """
CREATE TRIGGER report_late_{name} AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION report_late_{name}()
"""

# Times are SQLAlchemy's DATETIME text on SQLite ('2026-11-23 00:31:02.123456', microseconds
# always written, by kit/rows.py too), so text order is time order.
SQLITE_TRIGGER = """
CREATE TRIGGER report_late_{name} AFTER INSERT ON {table}
WHEN NEW.{at} < (SELECT claimed_until FROM report_watermarks WHERE name = 'rollups')
BEGIN
    INSERT OR IGNORE INTO report_late_rows (kind, row_id) VALUES ('{kind}', NEW.{ident});
END
"""


def upgrade() -> None:
    op.create_table(
        "report_late_rows",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("row_id", sa.String(length=26), nullable=False),
        sa.PrimaryKeyConstraint("kind", "row_id", name=op.f("pk_report_late_rows")),
    )
    with op.batch_alter_table("report_watermarks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column(
            "folded_until", existing_type=sa.DateTime(timezone=True), nullable=True
        )
    op.execute("UPDATE report_watermarks SET claimed_until = folded_until")
    op.execute(
        "INSERT INTO report_watermarks (name) SELECT 'rollups' WHERE NOT EXISTS "
        "(SELECT 1 FROM report_watermarks WHERE name = 'rollups')"
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, ident, at, kind in WATCHED:
        names = {"name": name, "table": table, "ident": ident, "at": at, "kind": kind}
        if postgresql:
            op.execute(PG_FUNCTION.format(**names))
            op.execute(PG_TRIGGER.format(**names))
        else:
            op.execute(SQLITE_TRIGGER.format(**names))


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, *_rest in WATCHED:
        op.execute(f"DROP TRIGGER report_late_{name}" + (f" ON {table}" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION report_late_{name}()")
    op.execute("DELETE FROM report_watermarks WHERE folded_until IS NULL")
    with op.batch_alter_table("report_watermarks", schema=None) as batch_op:
        batch_op.alter_column(
            "folded_until", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.drop_column("claimed_until")
    op.drop_table("report_late_rows")
