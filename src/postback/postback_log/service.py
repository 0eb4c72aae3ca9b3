"""The postback log, read side: the first place to look when a conversion went missing."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from postback.kit.errors import NotFound
from postback.kit.ids import looks_like_click_id
from postback.models import PostbackLogEntry
from postback.postback_log import repository
from postback.postback_log.schemas import LogFilters


def list_entries(
    session: Session, filters: LogFilters, before: str | None, limit: int
) -> Sequence[PostbackLogEntry]:
    return repository.list_entries(session, filters, before, limit)


def get_entry(session: Session, entry_id: str) -> PostbackLogEntry:
    entry = (
        repository.get_entry(session, entry_id.upper()) if looks_like_click_id(entry_id) else None
    )
    if entry is None:
        raise NotFound(f"postback log entry {entry_id!r} does not exist")
    return entry
