"""login_failures: the sign-in throttle, in the database

The throttle counted failures in each server process and checked before the slow password
check, then counted after it: concurrent wrong passwords all passed the check. A row per
(IP, email) counted by one atomic upsert is the same for every process.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_login_failures")),
    )
    op.create_index(
        op.f("ix_login_failures_window_started_at"), "login_failures", ["window_started_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_login_failures_window_started_at", table_name="login_failures")
    op.drop_table("login_failures")
