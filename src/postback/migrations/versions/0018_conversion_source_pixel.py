"""conversion source (postback, manual, pixel), the campaign's pixel settings, rollups by source

- campaigns.pixel_enabled / pixel_status / pixel_fires_postbacks: the conversion pixel is off
  unless a campaign opts in (ADR 0018).
- conversions.source and conversion_status_changes.source: what recorded a conversion, and the
  source each ledger row counts under in reports. Existing conversions came from postbacks, or
  from the conversions API when their first ledger row's origin is `manual`.
- The three conversion rollups get `source` in their primary key. Their rows are kept (as
  `postback`), then the manual conversions' folded ledger rows (not late, not skipped) are
  moved to `manual` by the aggregator's own fold, so reports over ranges folded before the
  upgrade stay exact.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each rollup's primary key after this migration (models.py); before it, without "source".
ROLLUPS = {
    "report_conversion_campaign": ("level", "basis", "q", "is_test", "campaign_id",
                                   "traffic_source_id", "offer_id", "source", "event"),
    "report_conversions": ("level", "q", "is_test", "campaign_id", "traffic_source_id", "basis",
                           "offer_id", "country", "device", "os", "browser", "source", "event"),
    "report_conversion_tokens": ("level", "name", "q", "is_test", "campaign_id",
                                 "traffic_source_id", "basis", "value", "source", "event"),
}  # fmt: skip


def _source_column() -> sa.Column[Any]:
    return sa.Column("source", sa.String(length=12), nullable=False, server_default="postback")


def upgrade() -> None:
    for name, default in (("pixel_enabled", sa.false()), ("pixel_fires_postbacks", sa.false())):
        op.add_column(
            "campaigns", sa.Column(name, sa.Boolean(), nullable=False, server_default=default)
        )
    op.add_column(
        "campaigns",
        sa.Column("pixel_status", sa.String(length=12), nullable=False, server_default="pending"),
    )
    op.add_column("conversions", _source_column())
    op.add_column("conversion_status_changes", _source_column())
    bind = op.get_bind()
    bind.exec_driver_sql(
        "UPDATE conversions SET source = 'manual' WHERE (SELECT origin FROM "
        "conversion_status_changes l WHERE l.conversion_id = conversions.id "
        "ORDER BY l.id LIMIT 1) = 'manual'"
    )
    bind.exec_driver_sql(
        "UPDATE conversion_status_changes SET source = 'manual' WHERE conversion_id IN "
        "(SELECT id FROM conversions WHERE source = 'manual')"
    )
    for name, keys in ROLLUPS.items():
        _rekey(bind, name, keys)
    # move_manual_rows folds with the aggregator's current code, which writes the rollups' keys
    # as they are at the head: it runs at the end of the last migration that changes those
    # keys (0019, the fraud flags), not here.


def _rekey(bind: Connection, name: str, keys: Sequence[str]) -> None:
    """Add `source` to a rollup's primary key; its rows are kept as `postback`."""
    if bind.dialect.name == "postgresql":
        op.add_column(name, _source_column())
        op.drop_constraint(f"pk_{name}", name, type_="primary")
        op.create_primary_key(f"pk_{name}", name, list(keys))
        return
    # SQLite cannot change a primary key: a new WITHOUT ROWID table (migration 0005).
    old = sa.Table(name, sa.MetaData(), autoload_with=bind)
    columns = [
        sa.Column(c.name, c.type, nullable=c.nullable, server_default=c.server_default)
        for c in old.columns
    ]
    new = sa.Table(
        f"_new_{name}",
        sa.MetaData(),
        *columns,
        _source_column(),
        sa.PrimaryKeyConstraint(*keys, name=f"pk_{name}"),
        sqlite_with_rowid=False,
    )
    new.create(bind)
    names = ", ".join(c.name for c in old.columns)
    bind.exec_driver_sql(f"INSERT INTO _new_{name} ({names}) SELECT {names} FROM {name}")
    bind.exec_driver_sql(f"DROP TABLE {name}")
    bind.exec_driver_sql(f"ALTER TABLE _new_{name} RENAME TO {name}")


def move_manual_rows(bind: Connection) -> None:
    """Move what the folded ledger rows of manual conversions added to the rollups from
    `postback` to `manual`: the same rows folded once under each, one negated."""
    # The aggregator's code as it is at this revision: its fold reads the columns added above.
    from postback.reports import aggregator, queries
    from postback.reports.dimensions import CONVERSION_FAMILIES
    from postback.reports.facts import CONV_METRICS

    mark = queries.read_watermark(bind)
    if mark is None:
        return
    _clicks, late = queries.late_entries(bind, 10**9)
    rows = queries.fetch_folded_ledger_of(bind, "manual", mark, late)
    if not rows:
        return
    _count, accs = aggregator.fold_ledger(rows, queries.networks_by_offer(bind))
    for family, acc in zip(CONVERSION_FAMILIES, accs, strict=True):
        at = aggregator.source_index(family.table)
        moved: aggregator.Acc = dict(acc)
        for key, values in acc.items():
            taken = (*key[:at], "postback", *key[at + 1 :])
            moved[taken] = [-v for v in values]
        q_at = [c.name for c in family.table.primary_key.columns].index("q") - 1
        aggregator.write(
            bind, family.table, CONV_METRICS, aggregator.with_levels(moved, q_at, family.top)
        )


def downgrade() -> None:
    bind = op.get_bind()
    for name, keys in ROLLUPS.items():
        _unkey(bind, name, [k for k in keys if k != "source"])
    op.drop_column("conversion_status_changes", "source")
    op.drop_column("conversions", "source")
    for name in ("pixel_enabled", "pixel_fires_postbacks", "pixel_status"):
        op.drop_column("campaigns", name)


def _unkey(bind: Connection, name: str, keys: list[str]) -> None:
    """Sum a rollup's rows over `source` and drop the column."""
    old = sa.Table(name, sa.MetaData(), autoload_with=bind)
    kept = [c for c in old.columns if c.name != "source"]
    metrics = [c.name for c in kept if c.name not in keys]
    sums = ", ".join(f"SUM({m}) AS {m}" for m in metrics)
    listed = ", ".join([*keys, *metrics])
    select = f"SELECT {', '.join(keys)}, {sums} FROM {name} GROUP BY {', '.join(keys)}"
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(f"CREATE TEMPORARY TABLE _sums AS {select}")
        bind.exec_driver_sql(f"DELETE FROM {name}")
        op.drop_constraint(f"pk_{name}", name, type_="primary")
        op.drop_column(name, "source")
        op.create_primary_key(f"pk_{name}", name, keys)
        bind.exec_driver_sql(f"INSERT INTO {name} ({listed}) SELECT * FROM _sums")
        bind.exec_driver_sql("DROP TABLE _sums")
        return
    columns = [
        sa.Column(c.name, c.type, nullable=c.nullable, server_default=c.server_default)
        for c in kept
    ]
    new = sa.Table(
        f"_new_{name}",
        sa.MetaData(),
        *columns,
        sa.PrimaryKeyConstraint(*keys, name=f"pk_{name}"),
        sqlite_with_rowid=False,
    )
    new.create(bind)
    bind.exec_driver_sql(f"INSERT INTO _new_{name} ({listed}) {select}")
    bind.exec_driver_sql(f"DROP TABLE {name}")
    bind.exec_driver_sql(f"ALTER TABLE _new_{name} RENAME TO {name}")
