"""SQL for reading the postback log (the receiver writes it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from postback.kit.ids import canonical_click_id, ulid_floor
from postback.models import PostbackLogEntry
from postback.postback_log.schemas import LogFilters

# How much later than its arrival a postback's log id may be made: far above the writer's
# wait for the database lock (10 s), so an id bound never hides a row received_at admits.
PROCESSING_SLACK = timedelta(hours=1)


def list_entries(
    session: Session, f: LogFilters, before: str | None, limit: int
) -> Sequence[PostbackLogEntry]:
    """Newest first, by id: ids are ULIDs, so id order is arrival order."""
    query = select(PostbackLogEntry).order_by(PostbackLogEntry.id.desc()).limit(limit)
    equal = {
        PostbackLogEntry.outcome: f.outcome,
        PostbackLogEntry.reason: f.reason,
        PostbackLogEntry.network_id: f.network_id,
        PostbackLogEntry.conversion_id: f.conversion_id.upper() if f.conversion_id else None,
    }
    for column, value in equal.items():
        if value is not None:
            query = query.where(column == value)
    if f.clickid is not None:
        # A ULID is logged in upper case whatever case it came in; older rows kept it as sent.
        query = query.where(
            PostbackLogEntry.click_id.in_({f.clickid, canonical_click_id(f.clickid)})
        )
    # received_at has no index: the id range (a ULID made while the postback is processed,
    # at or after its arrival) narrows by the primary key, received_at then decides exactly.
    if f.from_ is not None:
        query = query.where(
            PostbackLogEntry.id >= ulid_floor(f.from_), PostbackLogEntry.received_at >= f.from_
        )
    if f.to is not None:
        query = query.where(
            PostbackLogEntry.id < ulid_floor(f.to + PROCESSING_SLACK),
            PostbackLogEntry.received_at < f.to,
        )
    if before is not None:
        query = query.where(PostbackLogEntry.id < before)
    return session.scalars(query).all()


def get_entry(session: Session, entry_id: str) -> PostbackLogEntry | None:
    return session.get(PostbackLogEntry, entry_id)
