"""report_skipped_rows: clicks and ledger rows the report fold could not take (ADR 0015)

A row whose fold fails alone, with an error that is not the database's passing trouble, is
named here and left out of the rollups, so the rest of its slice is folded and the watermark
moves on; `postback reports refold` folds it again after a fix.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_skipped_rows",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("row_id", sa.String(length=26), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "row_id", name=op.f("pk_report_skipped_rows")),
    )


def downgrade() -> None:
    op.drop_table("report_skipped_rows")
