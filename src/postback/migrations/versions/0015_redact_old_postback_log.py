"""postback_log: redact rows stored before redaction covered every refusal

Rows logged before secrets were redacted whatever step refused the request may still hold a
network's token in their path, query, body or parsed fields. They go through the very code
that redacts new rows (conversions/redaction.py, with the book of every network's secrets and
token aliases, read here with plain SQL), in batches by primary key so a large log never sits
in memory at once; only rows that change are written. There is no way back: the downgrade
leaves the rows as they are.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from postback.conversions.redaction import SecretBook, book_of_secrets

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000
# As the pipeline cuts them when it logs a request (conversions/service.py).
PATH_MAX = 2048

networks = sa.table(
    "networks", sa.column("secret"), sa.column("signing_secret"), sa.column("aliases", sa.JSON)
)
log = sa.table(
    "postback_log",
    sa.column("id"),
    sa.column("path"),
    sa.column("query"),
    sa.column("body"),
    sa.column("parsed", sa.JSON),
)
_REDACT = (
    sa.update(log)
    .where(log.c.id == sa.bindparam("b_id"))
    .values(
        path=sa.bindparam("b_path"),
        query=sa.bindparam("b_query"),
        body=sa.bindparam("b_body"),
        parsed=sa.bindparam("b_parsed", type_=sa.JSON),
    )
)


def upgrade() -> None:
    redact_log(op.get_bind(), BATCH)


def redact_log(conn: sa.Connection, batch: int) -> int:
    """Redact every row of the postback log; returns how many changed."""
    rows = conn.execute(sa.select(networks.c.secret, networks.c.signing_secret, networks.c.aliases))
    found = list(rows)
    book = book_of_secrets(
        [s for r in found for s in (r.secret, r.signing_secret)], [r.aliases for r in found]
    )
    after, changed = "", 0
    while True:
        page = conn.execute(
            sa.select(log.c.id, log.c.path, log.c.query, log.c.body, log.c.parsed)
            .where(log.c.id > after)
            .order_by(log.c.id)
            .limit(batch)
        ).all()
        if not page:
            return changed
        updates = [u for u in (_redacted(book, row) for row in page) if u is not None]
        if updates:
            conn.execute(_REDACT, updates)
        changed += len(updates)
        after = page[-1].id


def _redacted(book: SecretBook, row: Any) -> dict[str, Any] | None:
    parsed = book.redact_value("", row.parsed) if row.parsed else row.parsed
    new = {
        "b_path": book.redact(row.path)[:PATH_MAX],
        "b_query": book.redact(row.query),
        "b_body": book.redact(row.body),
        "b_parsed": parsed,
    }
    old = (row.path, row.query, row.body, row.parsed)
    if (new["b_path"], new["b_query"], new["b_body"], new["b_parsed"]) == old:
        return None
    return {"b_id": row.id, **new}


def downgrade() -> None:
    pass  # a redacted secret cannot be put back
