"""postback_log: drop the index on received_at

Every postback writes a log row, and each index on postback_log is one more B-tree insert and
one more page in each group commit. The log's id is a ULID made as the postback is processed,
so id order is arrival order: listing and time filters go by the primary key instead (see
postback_log/repository.py).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_postback_log_received_at", table_name="postback_log")


def downgrade() -> None:
    op.create_index("ix_postback_log_received_at", "postback_log", ["received_at"])
