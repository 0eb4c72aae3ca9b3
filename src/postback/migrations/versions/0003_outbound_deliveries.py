"""outbound deliveries

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=26), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("response_snippet", sa.String(length=1024), nullable=True),
        sa.Column("worker", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_attempts_delivery_id_deliveries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_attempts_delivery_id"), ["delivery_id"], unique=False
        )

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("method", sa.String(length=6), nullable=False, server_default="GET")
        )
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("event", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("status", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_status_code", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(length=500), nullable=True))

    with op.batch_alter_table("traffic_sources", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("postback_events", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column("postback_statuses", sa.JSON(), nullable=False, server_default='["approved"]')
        )
        batch_op.add_column(
            sa.Column("postback_status_names", sa.JSON(), nullable=False, server_default="{}")
        )
        batch_op.add_column(
            sa.Column("postback_signing_secret", sa.String(length=200), nullable=True)
        )
        batch_op.add_column(
            sa.Column("postback_disabled_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("postback_disabled_reason", sa.String(length=200), nullable=True)
        )
        batch_op.add_column(
            sa.Column("postback_failing_since", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("traffic_sources", schema=None) as batch_op:
        batch_op.drop_column("postback_failing_since")
        batch_op.drop_column("postback_disabled_reason")
        batch_op.drop_column("postback_disabled_at")
        batch_op.drop_column("postback_signing_secret")
        batch_op.drop_column("postback_status_names")
        batch_op.drop_column("postback_statuses")
        batch_op.drop_column("postback_events")

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("last_status_code")
        batch_op.drop_column("finished_at")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("status")
        batch_op.drop_column("event")
        batch_op.drop_column("body")
        batch_op.drop_column("method")

    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_attempts_delivery_id"))

    op.drop_table("delivery_attempts")
