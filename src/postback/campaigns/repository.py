"""SQL for campaigns and their offer lists."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from postback.kit import repository as kit_repository
from postback.models import Campaign, CampaignOffer


def get(session: Session, campaign_id: int) -> Campaign | None:
    return session.get(Campaign, campaign_id)


def key_exists(session: Session, key: str) -> bool:
    return session.scalar(select(Campaign.id).where(Campaign.key == key)) is not None


def list_after(
    session: Session,
    after: int | None,
    limit: int,
    *,
    include_archived: bool,
    traffic_source_id: int | None = None,
) -> Sequence[Campaign]:
    query = kit_repository.page(Campaign, after, limit)
    if not include_archived:
        query = query.where(Campaign.status != "archived")
    if traffic_source_id is not None:
        query = query.where(Campaign.traffic_source_id == traffic_source_id)
    return session.scalars(query).all()


def offers_of(session: Session, campaign_ids: Iterable[int]) -> dict[int, list[CampaignOffer]]:
    rows = session.scalars(
        select(CampaignOffer)
        .where(CampaignOffer.campaign_id.in_(set(campaign_ids)))
        .order_by(CampaignOffer.campaign_id, CampaignOffer.position, CampaignOffer.offer_id)
    ).all()
    grouped: dict[int, list[CampaignOffer]] = defaultdict(list)
    for row in rows:
        grouped[row.campaign_id].append(row)
    return grouped


def add(session: Session, campaign: Campaign) -> Campaign:
    return kit_repository.add(session, campaign)


def replace_offers(
    session: Session, campaign_id: int, offers: Sequence[tuple[int, int]]
) -> list[CampaignOffer]:
    """Set the campaign's (offer_id, weight) list; list order becomes the rotation order."""
    session.execute(delete(CampaignOffer).where(CampaignOffer.campaign_id == campaign_id))
    rows = [
        CampaignOffer(campaign_id=campaign_id, offer_id=offer_id, weight=weight, position=i)
        for i, (offer_id, weight) in enumerate(offers)
    ]
    session.add_all(rows)
    session.flush()
    return rows
