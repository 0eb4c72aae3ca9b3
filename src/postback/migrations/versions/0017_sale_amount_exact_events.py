"""The sale value beside the payout, and event names exactly as sent

- conversions.amount_micros / original_sale_amount: the sale value (`amount`, `val`...) a
  postback sends beside its payout. NULL for every existing conversion: before this, a sale
  value was read as the payout (alone) or not kept at all (beside a payout).
- conversion_status_changes.amount_delta_micros and the conversion rollups' amount_micros: the
  recognised sale value, summed by reports as `sale_amount`. 0 for existing rows, which is
  exact: no existing conversion has a sale value.
- conversions.event_key: what the duplicate rule compares (the event as sent, or lower case for
  a network whose system ignores case). Events were stored lower-cased until now, so every
  existing key is the event itself, and the unique constraint moves from (click_id, event,
  dedupe_key) to (click_id, event_key, dedupe_key) without any row colliding.
- networks / traffic_sources.events_case_insensitive: false for all, the default (exact).

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLLUPS = ("report_conversion_campaign", "report_conversions", "report_conversion_tokens")
OLD_UNIQUE = "uq_conversions_click_id_event_dedupe_key"
NEW_UNIQUE = "uq_conversions_click_id_event_key_dedupe_key"


def upgrade() -> None:
    for table in ("networks", "traffic_sources"):
        op.add_column(
            table,
            sa.Column(
                "events_case_insensitive", sa.Boolean(), nullable=False, server_default=sa.false()
            ),
        )
    for table in ROLLUPS:
        op.add_column(
            table, sa.Column("amount_micros", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.add_column(
        "conversion_status_changes",
        sa.Column("amount_delta_micros", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column("conversions", sa.Column("amount_micros", sa.BigInteger(), nullable=True))
    op.add_column(
        "conversions", sa.Column("original_sale_amount", sa.String(length=40), nullable=True)
    )
    op.add_column("conversions", sa.Column("event_key", sa.String(length=50), nullable=True))
    op.execute("UPDATE conversions SET event_key = event")
    # SQLite cannot change a constraint in place: batch mode copies the table once.
    with op.batch_alter_table("conversions") as batch:
        batch.alter_column("event_key", existing_type=sa.String(length=50), nullable=False)
        batch.drop_constraint(OLD_UNIQUE, type_="unique")
        batch.create_unique_constraint(NEW_UNIQUE, ["click_id", "event_key", "dedupe_key"])


def downgrade() -> None:
    # Events that differ only in case would collide under the old constraint: keep one of each
    # is not ours to choose, so the downgrade refuses (the upgrade is the way forward).
    bind = op.get_bind()
    clash = bind.execute(
        sa.text(
            "SELECT count(*) FROM conversions GROUP BY click_id, lower(event), dedupe_key "
            "HAVING count(*) > 1"
        )
    ).first()
    if clash is not None:
        raise RuntimeError("conversions differ only in their event's case: cannot downgrade")
    op.execute("UPDATE conversions SET event = lower(event)")
    with op.batch_alter_table("conversions") as batch:
        batch.drop_constraint(NEW_UNIQUE, type_="unique")
        batch.create_unique_constraint(OLD_UNIQUE, ["click_id", "event", "dedupe_key"])
        batch.drop_column("event_key")
        batch.drop_column("original_sale_amount")
        batch.drop_column("amount_micros")
    with op.batch_alter_table("conversion_status_changes") as batch:
        batch.drop_column("amount_delta_micros")
    for table in ROLLUPS:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("amount_micros")
    for table in ("networks", "traffic_sources"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("events_case_insensitive")
