"""conversion_status_changes.origin and api_key_id: who made each change of the ledger

A ledger row comes from an inbound postback (its log row in `postback_id`) or from an admin
through the conversions API (`origin = 'manual'`, with the API key's id). Existing rows all came
from postbacks.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "conversion_status_changes",
        sa.Column("origin", sa.String(length=12), nullable=False, server_default="postback"),
    )
    op.add_column("conversion_status_changes", sa.Column("api_key_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversion_status_changes") as batch:
        batch.drop_column("api_key_id")
        batch.drop_column("origin")
