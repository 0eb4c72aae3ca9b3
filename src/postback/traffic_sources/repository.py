"""SQL for traffic sources."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from postback.kit import repository as kit_repository
from postback.models import TrafficSource


def get(session: Session, source_id: int) -> TrafficSource | None:
    return session.get(TrafficSource, source_id)


def list_after(
    session: Session, after: int | None, limit: int, *, include_archived: bool
) -> Sequence[TrafficSource]:
    query = kit_repository.page(TrafficSource, after, limit)
    if not include_archived:
        query = query.where(TrafficSource.archived.is_(False))
    return session.scalars(query).all()


def add(session: Session, source: TrafficSource) -> TrafficSource:
    return kit_repository.add(session, source)
