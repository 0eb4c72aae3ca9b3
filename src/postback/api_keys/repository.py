"""SQL for API keys."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from postback.models import ApiKey, utcnow


def get(session: Session, key_id: int) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def get_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).one_or_none()


def list_after(session: Session, after: int | None, limit: int) -> Sequence[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.id).limit(limit)
    if after is not None:
        query = query.where(ApiKey.id > after)
    return session.scalars(query).all()


def add(session: Session, key: ApiKey) -> ApiKey:
    session.add(key)
    session.flush()
    return key


def insert_ignore(session: Session, *, name: str, prefix: str, key_hash: str) -> None:
    """Insert unless a key with this hash exists; safe when several processes start at once."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(ApiKey)
        .values(name=name, prefix=prefix, key_hash=key_hash, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key_hash"])
    )
    session.execute(stmt)
