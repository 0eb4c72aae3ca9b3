"""Integration-check payloads: the offer-URL check and test conversions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from postback.kit.fields import Input, Output, RowId
from postback.kit.linter import UrlWarning

CORRECT = "Your URL is correct. Go ahead and make a test conversion."


class OfferUrlCheck(Input):
    url: str = Field(min_length=1, max_length=2048)
    network_id: RowId | None = None


class Problem(Output):
    code: str
    message: str


class OfferUrlVerdict(Output):
    valid: bool
    message: str = Field(description=f"'{CORRECT}' or exactly what is wrong")
    errors: list[Problem]
    warnings: list[UrlWarning]


class TestConversionCreate(Input):
    campaign_id: RowId
    offer_id: RowId | None = Field(default=None, description="Default: the campaign's rotation")
    tokens: dict[str, str] = Field(default_factory=dict, max_length=40)


class TestConversionStatus(Output):
    clickid: str
    status: Literal["PENDING", "VALID", "INVALID"]
    reason: str | None = Field(description="The refused postback's reason code when INVALID")
    detail: str
    conversion_id: str | None = None
    redirect_url: str | None = None
