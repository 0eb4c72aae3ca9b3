"""SQL for integration checks: a test click, its conversion, postbacks that were refused."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from postback.models import Campaign, Click, Conversion, Network, Offer, PostbackLogEntry


def campaign(session: Session, campaign_id: int) -> Campaign | None:
    return session.get(Campaign, campaign_id)


def click(session: Session, clickid: str) -> Click | None:
    return session.get(Click, clickid)


def offer(session: Session, offer_id: int) -> Offer | None:
    return session.get(Offer, offer_id)


def conversion_of(session: Session, clickid: str) -> Conversion | None:
    query = select(Conversion).where(Conversion.click_id == clickid).order_by(Conversion.id)
    return session.scalars(query.limit(1)).first()


def network_of(session: Session, offer_id: int | None) -> Network | None:
    offer = session.get(Offer, offer_id) if offer_id else None
    return session.get(Network, offer.network_id) if offer and offer.network_id else None


def last_refusal(
    session: Session, found: Click, network: Network | None
) -> PostbackLogEntry | None:
    """The latest refused postback for this click: by its click ID or, when it was refused
    before the click ID was read (bad token, placeholder), by its network since the click."""
    match = [PostbackLogEntry.click_id == found.id]
    if network is not None:
        since = PostbackLogEntry.received_at >= found.created_at
        match.append(since & (PostbackLogEntry.network_id == network.id))
        match.append(since & PostbackLogEntry.path.like(f"%/{network.key}%"))
    query = (
        select(PostbackLogEntry)
        .where(PostbackLogEntry.outcome == "refused", or_(*match))
        .order_by(PostbackLogEntry.id.desc())  # ULIDs: newest first
    )
    return session.scalars(query.limit(1)).first()
