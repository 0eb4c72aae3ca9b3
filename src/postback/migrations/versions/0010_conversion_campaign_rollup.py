"""report_conversion_campaign: the conversion rollup without the click's geo columns

Reports by campaign, traffic source, offer, network and time read conversions from it instead of
report_conversions, whose country, device, OS and browser make close to one row per conversion
and basis. It is built here from report_conversions (the same facts, summed over the geo
columns), so reports over ranges folded before the upgrade stay exact.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "report_conversion_campaign"
# basis before q: a report asks for one basis at a time and reads only its rows.
KEYS = ("level", "basis", "q", "is_test", "campaign_id", "traffic_source_id", "offer_id", "event")
METRICS = ("conversions", "approved", "pending", "rejected", "refunded", "chargeback",
           "revenue_micros", "cost_micros")  # fmt: skip


def backfill(bind: Connection) -> None:
    keys = ", ".join(KEYS)
    sums = ", ".join(f"SUM({m})" for m in METRICS)
    bind.exec_driver_sql(
        f"INSERT INTO {TABLE} ({keys}, {', '.join(METRICS)}) "
        f"SELECT {keys}, {sums} FROM report_conversions GROUP BY {keys}"
    )


def upgrade() -> None:
    metrics = [sa.Column(m, sa.BigInteger(), nullable=False) for m in METRICS]
    op.create_table(
        TABLE,
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("q", sa.Integer(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("traffic_source_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=50), nullable=False),
        *metrics,
        sa.PrimaryKeyConstraint(*KEYS, name=op.f(f"pk_{TABLE}")),
        sqlite_with_rowid=False,  # like the other rollups (0005): the key is the table
    )
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table(TABLE)
