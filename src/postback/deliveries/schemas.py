"""Delivery payloads: outbound postbacks, their attempts, replay requests."""

from __future__ import annotations

from pydantic import BaseModel, Field

from postback.kit.fields import Input, Output, RowId, UtcDatetime
from postback.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT

STATES = ("pending", "delivering", "delivered", "dead", "disabled")
StateField = Field(default=None, pattern="^(pending|delivering|delivered|dead|disabled)$")


class DeliveryFilters(BaseModel):
    """Query parameters of `GET /deliveries`; times filter on when the delivery was queued."""

    state: str | None = StateField
    traffic_source_id: RowId | None = None
    conversion_id: str | None = Field(default=None, max_length=26)
    from_: UtcDatetime | None = Field(default=None, alias="from", description="Inclusive")
    to: UtcDatetime | None = Field(default=None, description="Exclusive")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=64)


class ReplayRequest(Input):
    """Which finished deliveries to send again; by default every dead letter."""

    state: str = Field(default="dead", pattern="^(pending|delivered|dead|disabled)$")
    traffic_source_id: RowId | None = None
    from_: UtcDatetime | None = Field(default=None, alias="from")
    to: UtcDatetime | None = None


class Replayed(BaseModel):
    replayed: int


class AttemptOut(Output):
    number: int
    started_at: UtcDatetime
    url: str
    status_code: int | None
    latency_ms: int
    outcome: str
    error: str | None
    response_snippet: str | None
    worker: str | None


class DeliveryOut(Output):
    id: str
    idempotency_key: str = Field(validation_alias="id")
    conversion_id: str
    traffic_source_id: int
    url: str
    method: str
    body: str | None
    event: str | None
    status: str | None
    state: str
    attempts: int
    next_attempt_at: UtcDatetime
    created_at: UtcDatetime
    finished_at: UtcDatetime | None
    last_status_code: int | None
    last_error: str | None


class DeliveryDetail(DeliveryOut):
    attempt_log: list[AttemptOut] = Field(default_factory=list)
