"""`/api/v1/postback-log`: list (newest first, keyset pages) and read one entry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from postback.api_keys.auth import REQUIRE_API_KEY
from postback.kit.pagination import Page, page_of, ulid_cursor
from postback.kit.session import ReadSessionDep
from postback.postback_log import service
from postback.postback_log.schemas import LogEntryOut, LogFilters

router = APIRouter(prefix="/postback-log", tags=["postback log"], dependencies=REQUIRE_API_KEY)


@router.get("", response_model=Page[LogEntryOut])
def list_postback_log(
    filters: Annotated[LogFilters, Query()], session: ReadSessionDep
) -> Page[LogEntryOut]:
    rows = service.list_entries(session, filters, ulid_cursor(filters.cursor), filters.limit + 1)
    return page_of(rows, filters.limit, LogEntryOut.model_validate, lambda e: e.id)


@router.get("/{entry_id}", response_model=LogEntryOut)
def get_postback_log_entry(
    entry_id: Annotated[str, Path(min_length=1, max_length=64)], session: ReadSessionDep
) -> LogEntryOut:
    return LogEntryOut.model_validate(service.get_entry(session, entry_id))
