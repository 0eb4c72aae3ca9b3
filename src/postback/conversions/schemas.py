"""Conversion payloads for the admin API's read endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from postback.kit.fields import ConversionStatus, Filters, MicrosText, Output, RowId, UtcDatetime
from postback.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT


class ConversionFilters(Filters):
    """Query parameters of `GET /conversions`; times filter on when the conversion arrived."""

    campaign_id: RowId | None = None
    offer_id: RowId | None = None
    network_id: RowId | None = None
    traffic_source_id: RowId | None = None
    status: ConversionStatus | None = None
    event: str | None = Field(default=None, max_length=50)
    clickid: str | None = Field(default=None, max_length=26)
    test: bool | None = None
    from_: UtcDatetime | None = Field(default=None, alias="from", description="Inclusive")
    to: UtcDatetime | None = Field(default=None, description="Exclusive")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=64)


class ConversionOut(Output):
    id: str
    clickid: str = Field(validation_alias="click_id")
    created_at: UtcDatetime
    updated_at: UtcDatetime
    click_at: UtcDatetime
    campaign_id: int
    offer_id: int | None
    network_id: int | None
    traffic_source_id: int
    event: str
    txid: str | None
    status: str
    payout: MicrosText = Field(validation_alias="payout_micros")
    revenue: MicrosText = Field(validation_alias="revenue_micros")
    commission: MicrosText = Field(validation_alias="commission_micros")
    cost: MicrosText = Field(
        validation_alias="cost_micros",
        description="What the conversion costs under a CPA or RevShare campaign, else 0",
    )
    currency: str = Field(default="", description="The account currency of the amounts above")
    original_amount: str
    original_currency: str
    fx_rate: str
    fx_date: str | None
    params: dict[str, Any]
    test: bool = Field(validation_alias="is_test")


class StatusChangeOut(Output):
    at: UtcDatetime
    from_status: str | None
    to_status: str
    payout_delta: MicrosText = Field(validation_alias="payout_delta_micros")
    revenue_delta: MicrosText = Field(validation_alias="revenue_delta_micros")
    cost_delta: MicrosText = Field(validation_alias="cost_delta_micros")
    postback_id: str | None


class ConversionDetail(ConversionOut):
    history: list[StatusChangeOut] = Field(default_factory=list, description="Oldest first")
