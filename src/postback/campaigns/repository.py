"""SQL for campaigns (their paths and rules live on the row)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from postback.kit import repository as kit_repository
from postback.models import Campaign


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


def add(session: Session, campaign: Campaign) -> Campaign:
    return kit_repository.add(session, campaign)
