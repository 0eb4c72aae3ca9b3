"""SQL for affiliate networks."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from postback.kit import repository as kit_repository
from postback.models import Network


def get(session: Session, network_id: int) -> Network | None:
    return session.get(Network, network_id)


def key_exists(session: Session, key: str) -> bool:
    return session.scalar(select(Network.id).where(Network.key == key)) is not None


def list_after(
    session: Session, after: int | None, limit: int, *, include_archived: bool
) -> Sequence[Network]:
    query = kit_repository.page(Network, after, limit)
    if not include_archived:
        query = query.where(Network.archived.is_(False))
    return session.scalars(query).all()


def add(session: Session, network: Network) -> Network:
    return kit_repository.add(session, network)
