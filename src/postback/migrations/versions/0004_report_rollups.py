"""report rollups: pre-aggregated clicks and conversions for fast, exact reports

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_click_campaign",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("unique_clicks", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("q", sa.Integer(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("traffic_source_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "level",
            "q",
            "is_test",
            "campaign_id",
            "traffic_source_id",
            "offer_id",
            name=op.f("pk_report_click_campaign"),
        ),
    )
    op.create_table(
        "report_click_geo",
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("device", sa.String(length=16), nullable=False),
        sa.Column("os", sa.String(length=50), nullable=False),
        sa.Column("browser", sa.String(length=50), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("unique_clicks", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("q", sa.Integer(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("traffic_source_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "level",
            "q",
            "is_test",
            "campaign_id",
            "traffic_source_id",
            "country",
            "device",
            "os",
            "browser",
            name=op.f("pk_report_click_geo"),
        ),
    )
    op.create_table(
        "report_click_tokens",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("unique_clicks", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("q", sa.Integer(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("traffic_source_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "level",
            "name",
            "q",
            "is_test",
            "campaign_id",
            "traffic_source_id",
            "value",
            name=op.f("pk_report_click_tokens"),
        ),
    )
    op.create_table(
        "report_conversion_tokens",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("basis", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=50), nullable=False),
        sa.Column("conversions", sa.BigInteger(), nullable=False),
        sa.Column("approved", sa.BigInteger(), nullable=False),
        sa.Column("pending", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("chargeback", sa.BigInteger(), nullable=False),
        sa.Column("revenue_micros", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("q", sa.Integer(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("traffic_source_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "level",
            "name",
            "q",
            "is_test",
            "campaign_id",
            "traffic_source_id",
            "basis",
            "value",
            "event",
            name=op.f("pk_report_conversion_tokens"),
        ),
    )
    op.create_table(
        "report_conversions",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("device", sa.String(length=16), nullable=False),
        sa.Column("os", sa.String(length=50), nullable=False),
        sa.Column("browser", sa.String(length=50), nullable=False),
        sa.Column("basis", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=50), nullable=False),
        sa.Column("conversions", sa.BigInteger(), nullable=False),
        sa.Column("approved", sa.BigInteger(), nullable=False),
        sa.Column("pending", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("chargeback", sa.BigInteger(), nullable=False),
        sa.Column("revenue_micros", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("q", sa.Integer(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("traffic_source_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "level",
            "q",
            "is_test",
            "campaign_id",
            "traffic_source_id",
            "basis",
            "offer_id",
            "country",
            "device",
            "os",
            "browser",
            "event",
            name=op.f("pk_report_conversions"),
        ),
    )
    op.create_table(
        "report_visitors",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("visitor", sa.String(length=45), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "visitor", "day", name=op.f("pk_report_visitors")),
    )
    op.create_table(
        "report_watermarks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("folded_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_report_watermarks")),
    )
    with op.batch_alter_table("conversion_status_changes", schema=None) as batch_op:
        batch_op.create_index("ix_conversion_status_changes_at", ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversion_status_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_conversion_status_changes_at")

    op.drop_table("report_watermarks")
    op.drop_table("report_visitors")
    op.drop_table("report_conversions")
    op.drop_table("report_conversion_tokens")
    op.drop_table("report_click_tokens")
    op.drop_table("report_click_geo")
    op.drop_table("report_click_campaign")
