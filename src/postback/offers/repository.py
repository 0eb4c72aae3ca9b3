"""SQL for offers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from postback.kit import repository as kit_repository
from postback.models import Offer


def get(session: Session, offer_id: int) -> Offer | None:
    return session.get(Offer, offer_id)


def get_many(session: Session, offer_ids: Iterable[int]) -> dict[int, Offer]:
    offers = session.scalars(select(Offer).where(Offer.id.in_(set(offer_ids)))).all()
    return {offer.id: offer for offer in offers}


def list_after(
    session: Session,
    after: int | None,
    limit: int,
    *,
    include_archived: bool,
    network_id: int | None = None,
) -> Sequence[Offer]:
    query = kit_repository.page(Offer, after, limit)
    if not include_archived:
        query = query.where(Offer.archived.is_(False))
    if network_id is not None:
        query = query.where(Offer.network_id == network_id)
    return session.scalars(query).all()


def add(session: Session, offer: Offer) -> Offer:
    return kit_repository.add(session, offer)
