"""report rollups on SQLite: WITHOUT ROWID tables (the primary key is the table)

The rollups are only ever read and upserted by their primary key. As rowid tables every row was
written twice, to the table and to its key index; clustered on the key, folding writes one
B-tree and the rollups take about a third less disk. PostgreSQL is unchanged.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "report_click_campaign",
    "report_click_geo",
    "report_click_tokens",
    "report_conversions",
    "report_conversion_tokens",
    "report_visitors",
)
CLAUSE = " WITHOUT ROWID"


def _rebuild(without_rowid: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for name in TABLES:
        sql = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).scalar_one()
        if sql.upper().endswith(CLAUSE) == without_rowid:
            continue
        new_sql = sql + CLAUSE if without_rowid else sql[: -len(CLAUSE)]
        bind.exec_driver_sql(f"ALTER TABLE {name} RENAME TO _old_{name}")
        bind.exec_driver_sql(new_sql)
        bind.exec_driver_sql(f"INSERT INTO {name} SELECT * FROM _old_{name}")
        bind.exec_driver_sql(f"DROP TABLE _old_{name}")


def upgrade() -> None:
    _rebuild(without_rowid=True)


def downgrade() -> None:
    _rebuild(without_rowid=False)
