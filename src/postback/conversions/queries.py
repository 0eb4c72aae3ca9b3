"""Read queries for the conversions API (the write path's SQL lives in repository.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from postback.conversions.schemas import ConversionFilters
from postback.models import Conversion, ConversionStatusChange


def list_conversions(
    session: Session, filters: ConversionFilters, before: str | None, limit: int
) -> Sequence[Conversion]:
    """Newest first, by id: ids are ULIDs, so id order is arrival order."""
    query = _filtered(select(Conversion), filters).order_by(Conversion.id.desc()).limit(limit)
    if before is not None:
        query = query.where(Conversion.id < before)
    return list(session.scalars(query))


def _filtered(query: Select[tuple[Conversion]], f: ConversionFilters) -> Select[tuple[Conversion]]:
    equal = {
        Conversion.campaign_id: f.campaign_id,
        Conversion.offer_id: f.offer_id,
        Conversion.network_id: f.network_id,
        Conversion.traffic_source_id: f.traffic_source_id,
        Conversion.status: f.status,
        Conversion.event: f.event,
        Conversion.click_id: f.clickid.upper() if f.clickid else None,
        Conversion.is_test: f.test,
        Conversion.source: f.source,
    }
    for column, value in equal.items():
        if value is not None:
            query = query.where(column == value)
    if f.from_ is not None:
        query = query.where(Conversion.created_at >= f.from_)
    if f.to is not None:
        query = query.where(Conversion.created_at < f.to)
    return query


def get_conversion(session: Session, conversion_id: str) -> Conversion | None:
    return session.get(Conversion, conversion_id)


def status_history(session: Session, conversion_id: str) -> Sequence[ConversionStatusChange]:
    return session.scalars(
        select(ConversionStatusChange)
        .where(ConversionStatusChange.conversion_id == conversion_id)
        .order_by(ConversionStatusChange.at, ConversionStatusChange.id)
    ).all()
