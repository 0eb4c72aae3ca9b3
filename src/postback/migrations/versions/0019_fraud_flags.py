"""fraud flags: a bitmask on clicks and conversions, a rollup key, a destination setting

`flags` (bits of fraud/flags.py) on clicks and conversions, 0 for the rows already there: they
were never checked. The campaign and geo rollups of clicks and conversions get `flags` last in
their primary key, so reports filter and group by it; existing rollup rows keep their sums
under flags 0, which is what their rows hold. traffic_sources.postback_skip_flags: conversions
with any of these flags fire no outbound postback (0: every one fires, as before).

On PostgreSQL adding a column with a constant default rewrites nothing; the rollups' keys are
rebuilt in place. SQLite cannot change a primary key, so each rollup is copied into a new
WITHOUT ROWID table (like migration 0005).

Revision ID: 0019
Revises: 0018
"""

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ("level", "q", "is_test", "campaign_id", "traffic_source_id")
_GEO = ("country", "device", "os", "browser")
# Each rollup's primary key without flags, in order.
ROLLUPS = {
    "report_click_campaign": (*_KEY, "offer_id"),
    "report_click_geo": (*_KEY, *_GEO),
    "report_conversion_campaign": ("level", "basis", *_KEY[1:], "offer_id", "source", "event"),
    "report_conversions": (*_KEY, "basis", "offer_id", *_GEO, "source", "event"),
}


def _flags() -> sa.Column:
    return sa.Column("flags", sa.Integer(), nullable=False, server_default="0")


def _rekey(bind: Connection, table: str, keys: Sequence[str]) -> None:
    if bind.dialect.name == "postgresql":
        op.add_column(table, _flags())
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        op.create_primary_key(f"pk_{table}", table, list(keys))
        return
    old = sa.Table(table, sa.MetaData(), autoload_with=bind)
    columns = [c.name for c in old.columns if c.name != "flags"]
    bind.exec_driver_sql(f"ALTER TABLE {table} RENAME TO _old_{table}")
    new = [
        sa.Column(c.name, c.type, nullable=False, server_default=c.server_default)
        for c in old.columns
        if c.name != "flags"
    ]
    if "flags" in keys:
        new.append(_flags())
    op.create_table(
        table,
        *new,
        sa.PrimaryKeyConstraint(*keys, name=f"pk_{table}"),
        sqlite_with_rowid=False,
    )
    listed = ", ".join(columns)
    if "flags" in keys:
        bind.exec_driver_sql(f"INSERT INTO {table} ({listed}) SELECT {listed} FROM _old_{table}")
    else:  # downgrade: the flagged rows add up into their unflagged key
        metrics = [c for c in columns if c not in keys]
        sums = ", ".join([*keys, *(f"SUM({m})" for m in metrics)])
        bind.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join([*keys, *metrics])}) "
            f"SELECT {sums} FROM _old_{table} GROUP BY {', '.join(keys)}"
        )
    bind.exec_driver_sql(f"DROP TABLE _old_{table}")


def upgrade() -> None:
    bind = op.get_bind()
    for table in ("clicks", "conversions"):
        op.add_column(table, _flags())
    op.add_column(
        "traffic_sources",
        sa.Column("postback_skip_flags", sa.Integer(), nullable=False, server_default="0"),
    )
    for table, keys in ROLLUPS.items():
        _rekey(bind, table, (*keys, "flags"))
    # 0018's move of the manual conversions' folded rows to their source folds with today's
    # code, so it runs once the rollups have today's keys: here.
    pixel = importlib.import_module("postback.migrations.versions.0018_conversion_source_pixel")
    pixel.move_manual_rows(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table, keys in ROLLUPS.items():
        if bind.dialect.name == "postgresql":
            # Flagged rows are folded into their unflagged key before the column goes.
            _downgrade_pg(bind, table, keys)
        else:
            _rekey(bind, table, keys)
    op.drop_column("traffic_sources", "postback_skip_flags")
    for table in ("clicks", "conversions"):
        op.drop_column(table, "flags")


def _downgrade_pg(bind: Connection, table: str, keys: Sequence[str]) -> None:
    old = sa.Table(table, sa.MetaData(), autoload_with=bind)
    metrics = [c.name for c in old.columns if c.name not in keys and c.name != "flags"]
    listed = ", ".join(keys)
    sums = ", ".join(f"SUM({m}) AS {m}" for m in metrics)
    bind.exec_driver_sql(
        f"CREATE TEMP TABLE _sum_{table} AS SELECT {listed}, {sums} FROM {table} GROUP BY {listed}"
    )
    bind.exec_driver_sql(f"DELETE FROM {table}")
    op.drop_constraint(f"pk_{table}", table, type_="primary")
    op.drop_column(table, "flags")
    op.create_primary_key(f"pk_{table}", table, list(keys))
    columns = ", ".join([*keys, *metrics])
    bind.exec_driver_sql(f"INSERT INTO {table} ({columns}) SELECT * FROM _sum_{table}")
    bind.exec_driver_sql(f"DROP TABLE _sum_{table}")
