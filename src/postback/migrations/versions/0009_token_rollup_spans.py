"""token rollups: level 3, sums over 8 UTC days, for token reports over weeks

The aggregator now also folds clicks and ledger rows into level-3 rows (buckets of 8 UTC days
from the epoch) of the two token rollups, and a report without a time grouping reads them where
a whole span fits its range. The rows are built here from the level-2 (UTC day) rows already
folded, so reports over ranges folded before the upgrade stay exact.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SPAN = 8 * 96  # quarters in 8 days
TABLES = {
    "report_click_tokens": (
        ("name", "is_test", "campaign_id", "traffic_source_id", "value"),
        ("clicks", "unique_clicks", "cost_micros"),
    ),
    "report_conversion_tokens": (
        ("name", "is_test", "campaign_id", "traffic_source_id", "basis", "value", "event"),
        ("conversions", "approved", "pending", "rejected", "refunded", "chargeback",
         "revenue_micros", "cost_micros"),
    ),
}  # fmt: skip


def backfill(bind: Connection) -> None:
    """Level-3 rows as the sums of the level-2 rows in each span (q is never negative)."""
    for table, (keys, metrics) in TABLES.items():
        span_q = f"(q / {SPAN}) * {SPAN}"  # integer division on both databases
        columns = ", ".join(("level", "q", *keys, *metrics))
        sums = ", ".join(f"SUM({m})" for m in metrics)
        bind.exec_driver_sql(
            f"INSERT INTO {table} ({columns}) "
            f"SELECT 3, {span_q}, {', '.join(keys)}, {sums} FROM {table} WHERE level = 2 "
            f"GROUP BY {span_q}, {', '.join(keys)}"
        )


def upgrade() -> None:
    backfill(op.get_bind())


def downgrade() -> None:
    for table in TABLES:
        op.get_bind().exec_driver_sql(f"DELETE FROM {table} WHERE level = 3")
