"""Offer payloads. Payouts go in as decimals (string or number) and come out as strings."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from postback.kit.fields import (
    Amount,
    Currency,
    HttpUrlText,
    Input,
    MicrosText,
    Name,
    NotNull,
    Output,
    Patch,
    RowId,
    UtcDatetime,
)
from postback.kit.linter import UrlWarning


class OfferCreate(Input):
    name: Name
    url: HttpUrlText = Field(description="Destination; macros such as {clickid} are filled")
    network_id: RowId | None = None
    payout: Amount | None = None
    currency: Currency | None = Field(
        default=None, description="Default: the network's currency, else the account currency"
    )


class OfferUpdate(Patch):
    name: Annotated[Name | None, NotNull] = None
    url: Annotated[HttpUrlText | None, NotNull] = None
    network_id: RowId | None = None
    payout: Annotated[Amount | None, NotNull] = None
    currency: Annotated[Currency | None, NotNull] = None
    archived: Annotated[bool | None, NotNull] = None


class OfferOut(Output):
    id: int
    name: str
    url: str
    network_id: int | None
    payout: MicrosText = Field(validation_alias="payout_micros")
    currency: str
    archived: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
    warnings: list[UrlWarning] = Field(
        default_factory=list, description="What the URL linter found; errors refuse the save"
    )
