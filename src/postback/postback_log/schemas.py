"""Postback-log payloads: every inbound postback request, accepted or not."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from postback.kit.fields import Filters, Output, RowId, UtcDatetime
from postback.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT


class LogFilters(Filters):
    """Query parameters of `GET /postback-log`; times filter on when the request arrived."""

    outcome: str | None = Field(default=None, max_length=12, description="e.g. accepted")
    reason: str | None = Field(default=None, max_length=40, description="e.g. unknown_click")
    network_id: RowId | None = None
    clickid: str | None = Field(
        default=None, max_length=255, description="As received, or a click ID in any case"
    )
    conversion_id: str | None = Field(default=None, max_length=26)
    from_: UtcDatetime | None = Field(default=None, alias="from", description="Inclusive")
    to: UtcDatetime | None = Field(default=None, description="Exclusive")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=64)


class LogEntryOut(Output):
    id: str
    received_at: UtcDatetime
    source_ip: str | None
    method: str
    path: str
    query: str
    body: str
    parsed: dict[str, Any]
    network_id: int | None
    clickid: str | None = Field(validation_alias="click_id")
    outcome: str
    reason: str
    http_status: int
    conversion_id: str | None
