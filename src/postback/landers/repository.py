"""SQL for landers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from postback.kit import repository as kit_repository
from postback.models import Lander


def get(session: Session, lander_id: int) -> Lander | None:
    return session.get(Lander, lander_id)


def get_many(session: Session, lander_ids: Iterable[int]) -> dict[int, Lander]:
    landers = session.scalars(select(Lander).where(Lander.id.in_(set(lander_ids)))).all()
    return {lander.id: lander for lander in landers}


def list_after(
    session: Session, after: int | None, limit: int, *, include_archived: bool
) -> Sequence[Lander]:
    query = kit_repository.page(Lander, after, limit)
    if not include_archived:
        query = query.where(Lander.archived.is_(False))
    return session.scalars(query).all()


def add(session: Session, lander: Lander) -> Lander:
    return kit_repository.add(session, lander)
