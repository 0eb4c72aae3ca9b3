"""campaign paths and rules, landers, offer daily caps, CPA and RevShare costs

Each campaign's weighted offers (the campaign_offers table) become its one default path, kept
with any further paths and the routing rules as JSON on the campaign row: the click path reads
one row, and every id inside is checked when the campaign is saved.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLLUPS = ("report_conversions", "report_conversion_tokens")


def upgrade() -> None:
    op.create_table(
        "landers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_landers")),
    )
    op.create_table(
        "lander_clicks",
        sa.Column("click_id", sa.String(length=26), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("lander_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("click_id", name=op.f("pk_lander_clicks")),
    )
    with op.batch_alter_table("offers") as batch:
        batch.add_column(sa.Column("daily_cap", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("cap_timezone", sa.String(length=64), nullable=False, server_default="UTC")
        )
        batch.add_column(sa.Column("cap_fallback_offer_id", sa.Integer(), nullable=True))
    op.add_column("clicks", sa.Column("lander_id", sa.Integer(), nullable=True))
    _add_zero_column("conversions", "cost_micros")
    _add_zero_column("conversion_status_changes", "cost_delta_micros")
    for table in ROLLUPS:
        _add_zero_column(table, "cost_micros")
    op.create_index(
        op.f("ix_conversions_offer_id_created_at"), "conversions", ["offer_id", "created_at"]
    )
    _campaign_offers_to_paths()


def _add_zero_column(table: str, column: str) -> None:
    op.add_column(table, sa.Column(column, sa.BigInteger(), nullable=False, server_default="0"))


def _campaign_offers_to_paths() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("paths", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("rules", sa.JSON(), nullable=False, server_default="[]"))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT campaign_id, offer_id, weight FROM campaign_offers"
            " ORDER BY campaign_id, position, offer_id"
        )
    ).all()
    by_campaign: dict[int, list[list[int]]] = {}
    for campaign_id, offer_id, weight in rows:
        by_campaign.setdefault(campaign_id, []).append([offer_id, weight])
    campaigns = sa.table("campaigns", sa.column("id", sa.Integer()), sa.column("paths", sa.JSON()))
    for campaign_id, offers in by_campaign.items():
        path = {"name": "default", "weight": 100, "landers": [], "offers": offers}
        bind.execute(campaigns.update().where(campaigns.c.id == campaign_id).values(paths=[path]))
    op.drop_table("campaign_offers")


def downgrade() -> None:
    op.create_table(
        "campaign_offers",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_offers_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_campaign_offers_offer_id_offers")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "offer_id", name=op.f("pk_campaign_offers")),
    )
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("rules")
        batch.drop_column("paths")
    op.drop_index(op.f("ix_conversions_offer_id_created_at"), table_name="conversions")
    for table in ROLLUPS:
        op.drop_column(table, "cost_micros")
    op.drop_column("conversion_status_changes", "cost_delta_micros")
    op.drop_column("conversions", "cost_micros")
    op.drop_column("clicks", "lander_id")
    with op.batch_alter_table("offers") as batch:
        batch.drop_column("cap_fallback_offer_id")
        batch.drop_column("cap_timezone")
        batch.drop_column("daily_cap")
    op.drop_table("lander_clicks")
    op.drop_table("landers")
