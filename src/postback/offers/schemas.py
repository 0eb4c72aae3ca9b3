"""Offer payloads. Payouts go in as decimals (string or number) and come out as strings."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, Field

from postback.kit.fields import (
    Currency,
    HttpUrlText,
    Input,
    MicrosText,
    Name,
    NotNull,
    Output,
    Patch,
    Payout,
    RowId,
    UtcDatetime,
)
from postback.kit.linter import UrlWarning

_ZONES = frozenset(available_timezones())


def _known_zone(name: str) -> str:
    if name not in _ZONES:
        raise ValueError(f"{name!r} is not an IANA time zone such as UTC or America/New_York")
    return name


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_known_zone)]
DailyCap = Annotated[int, Field(ge=1, le=10_000_000, description="Conversions a day")]


class _Cap(Input):
    daily_cap: DailyCap | None = Field(
        default=None, description="Conversions a day after which clicks skip this offer"
    )
    cap_timezone: TimeZone = Field(default="UTC", description="The day of the cap")
    cap_fallback_offer_id: RowId | None = Field(
        default=None,
        description="Where capped traffic goes instead; without one the offer leaves the rotation",
    )


class OfferCreate(_Cap):
    name: Name
    url: HttpUrlText = Field(description="Destination; macros such as {clickid} are filled")
    network_id: RowId | None = None
    payout: Payout | None = None
    currency: Currency | None = Field(
        default=None, description="Default: the network's currency, else the account currency"
    )


class OfferUpdate(Patch):
    name: Annotated[Name | None, NotNull] = None
    url: Annotated[HttpUrlText | None, NotNull] = None
    network_id: RowId | None = None
    payout: Annotated[Payout | None, NotNull] = None
    currency: Annotated[Currency | None, NotNull] = None
    daily_cap: DailyCap | None = None
    cap_timezone: Annotated[TimeZone | None, NotNull] = None
    cap_fallback_offer_id: RowId | None = None
    archived: Annotated[bool | None, NotNull] = None


class OfferOut(Output):
    id: int
    name: str
    url: str
    network_id: int | None
    payout: MicrosText = Field(validation_alias="payout_micros")
    currency: str
    daily_cap: int | None
    cap_timezone: str
    cap_fallback_offer_id: int | None
    archived: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
    warnings: list[UrlWarning] = Field(
        default_factory=list, description="What the URL linter found; errors refuse the save"
    )
