"""SQL for the postback lab: everything stored about one click, in arrival order."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from postback.models import (
    Campaign,
    Click,
    Conversion,
    ConversionStatusChange,
    Delivery,
    DeliveryAttempt,
    Offer,
    PostbackLogEntry,
)

# A click hammered by a misconfigured network can have thousands of log rows: show the newest.
MAX_POSTBACKS = 200


def click(session: Session, clickid: str) -> Click | None:
    return session.get(Click, clickid)


def campaign(session: Session, campaign_id: int) -> Campaign | None:
    return session.get(Campaign, campaign_id)


def offer(session: Session, offer_id: int | None) -> Offer | None:
    return session.get(Offer, offer_id) if offer_id is not None else None


def conversions(session: Session, clickid: str) -> Sequence[Conversion]:
    query = select(Conversion).where(Conversion.click_id == clickid).order_by(Conversion.id)
    return session.scalars(query).all()


def history(session: Session, conversion_ids: list[str]) -> Sequence[ConversionStatusChange]:
    query = (
        select(ConversionStatusChange)
        .where(ConversionStatusChange.conversion_id.in_(conversion_ids))
        .order_by(ConversionStatusChange.id)
    )
    return session.scalars(query).all() if conversion_ids else []


def postbacks(
    session: Session, clickid: str, conversion_ids: list[str]
) -> Sequence[PostbackLogEntry]:
    """Log rows that named the click ID (as received, in either case) or led to its conversions."""
    match = [PostbackLogEntry.click_id.in_({clickid, clickid.lower()})]
    if conversion_ids:
        match.append(PostbackLogEntry.conversion_id.in_(conversion_ids))
    query = (
        select(PostbackLogEntry)
        .where(or_(*match))
        .order_by(PostbackLogEntry.id.desc())
        .limit(MAX_POSTBACKS)
    )
    return list(reversed(session.scalars(query).all()))


def deliveries(session: Session, conversion_ids: list[str]) -> Sequence[Delivery]:
    query = select(Delivery).where(Delivery.conversion_id.in_(conversion_ids)).order_by(Delivery.id)
    return session.scalars(query).all() if conversion_ids else []


def attempts(session: Session, delivery_ids: list[str]) -> Sequence[DeliveryAttempt]:
    query = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id.in_(delivery_ids))
        .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.number)
    )
    return session.scalars(query).all() if delivery_ids else []
