"""SQL for traffic sources."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from postback.models import TrafficSource


def get(session: Session, source_id: int) -> TrafficSource | None:
    return session.get(TrafficSource, source_id)


def list_after(
    session: Session, after: int | None, limit: int, *, include_archived: bool
) -> Sequence[TrafficSource]:
    query = select(TrafficSource).order_by(TrafficSource.id).limit(limit)
    if after is not None:
        query = query.where(TrafficSource.id > after)
    if not include_archived:
        query = query.where(TrafficSource.archived.is_(False))
    return session.scalars(query).all()


def add(session: Session, source: TrafficSource) -> TrafficSource:
    session.add(source)
    session.flush()
    return source
