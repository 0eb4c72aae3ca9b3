"""Conversion payloads of the admin API: reads, the manual create and the status change."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from postback.fraud.schemas import FlagsOut
from postback.kit.fields import (
    Amount,
    ConversionStatus,
    Currency,
    EventName,
    Filters,
    Input,
    MicrosText,
    Output,
    ParamName,
    Payout,
    RowId,
    UtcDatetime,
)
from postback.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from postback.models import TOKEN_VALUE_MAX

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=TOKEN_VALUE_MAX)]
MAX_PARAMS = 100  # as many as an inbound postback keeps (conversions/receiver.py)


ConversionSource = Literal["postback", "manual", "pixel"]


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
    source: ConversionSource | None = None
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
    amount: MicrosText | None = Field(
        default=None,
        validation_alias="amount_micros",
        description="The sale value sent beside the payout (`amount`, `val`...); null if none",
    )
    currency: str = Field(default="", description="The account currency of the amounts above")
    original_amount: str = Field(description="The payout as sent, in original_currency")
    original_sale_amount: str | None = Field(
        default=None, description="The sale value as sent, in original_currency"
    )
    original_currency: str
    fx_rate: str
    fx_date: str | None
    params: dict[str, Any]
    test: bool = Field(validation_alias="is_test")
    source: str = Field(
        default="postback",
        description="What recorded it: `postback`, `manual` (this API) or `pixel` (provisional "
        "until a postback for the same click and event supersedes it)",
    )
    flags: FlagsOut


class StatusChangeOut(Output):
    at: UtcDatetime
    from_status: str | None
    to_status: str
    payout_delta: MicrosText = Field(validation_alias="payout_delta_micros")
    revenue_delta: MicrosText = Field(validation_alias="revenue_delta_micros")
    cost_delta: MicrosText = Field(validation_alias="cost_delta_micros")
    amount_delta: MicrosText = Field(
        validation_alias="amount_delta_micros",
        description="Of the sale value reports count (that of approved conversions)",
    )
    postback_id: str | None = Field(description="The postback-log row of the postback that did it")
    origin: str = Field(
        description="`postback`, `pixel`, or `manual` for a change through this API"
    )
    api_key_id: int | None = Field(description="The API key that made a manual change")
    source: str = Field(
        default="postback",
        description="The conversion source this change counts under in reports; a postback "
        "superseding the pixel writes `superseded` (source `pixel`), then its own first row",
    )


class ConversionDetail(ConversionOut):
    history: list[StatusChangeOut] = Field(default_factory=list, description="Oldest first")


class ConversionCreate(Input):
    """A conversion reported outside postbacks (a CSV, an e-mail), recorded under the same rules
    as a postback with these canonical fields."""

    clickid: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    event: EventName | None = Field(default=None, description="Default `conversion`")
    status: ConversionStatus | None = Field(default=None, description="Default `approved`")
    payout: Payout | None = Field(
        default=None,
        description="In `currency`; the sale value when left out, else the offer's payout",
    )
    amount: Payout | None = Field(
        default=None, description="The sale value, in `currency`, kept beside the payout"
    )
    currency: Currency | None = Field(
        default=None, description="Default: the offer's (with its payout), the network's, ours"
    )
    txid: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] | None = Field(
        default=None, max_length=TOKEN_VALUE_MAX
    )
    com: Payout | None = Field(default=None, description="Commission, in `currency`")
    comperc: Amount | None = Field(
        default=None,
        description="Commission as a percentage of the sale value (of the payout when no "
        "`amount` is given), when `com` is 0",
    )
    params: dict[ParamName, Text] = Field(default_factory=dict, max_length=MAX_PARAMS)
    test: bool = Field(default=False, description="A test conversion: no outbound postback")
    ignore_window: bool = Field(
        default=False,
        description="Record it even if the click is older than the network's lookback window",
    )

    @field_validator("comperc")
    @classmethod
    def _percent(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and value > 100:
            raise ValueError("must be a percentage from 0 to 100")
        return value


class StatusChange(Input):
    """A new status (and payout) for a conversion, e.g. a lead the advertiser rejected."""

    status: ConversionStatus
    payout: Payout | None = Field(
        default=None, description="A new payout in `currency`; the payout stays when left out"
    )
    amount: Payout | None = Field(
        default=None, description="A new sale value in `currency`; it stays when left out"
    )
    currency: Currency | None = Field(
        default=None,
        description="The currency of `payout` and `amount`; default the account currency",
    )

    @field_validator("currency")
    @classmethod
    def _with_payout(cls, value: str | None, info: ValidationInfo) -> str | None:
        if (
            value is not None
            and info.data.get("payout") is None
            and info.data.get("amount") is None
        ):
            raise ValueError("is only used with a payout or an amount")
        return value


class ConversionWritten(ConversionDetail):
    """The conversion after a manual create or status change, with its whole history."""

    result: Literal["accepted", "updated", "unchanged"] = Field(
        description="`accepted`: a new conversion; `updated`: an existing one changed (a "
        "repeat under the network's duplicate mode, or a status change); `unchanged`: the "
        "status and payout were already these, so no ledger row was added"
    )
    detail: str = ""
    delivery_queued: bool = Field(
        default=False, description="An outbound postback to the traffic source was queued"
    )
