"""Campaign payloads: a traffic source, weighted offers, a cost model and a tracking link."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from postback.kit.fields import (
    Amount,
    HttpUrlText,
    Input,
    Name,
    NotNull,
    Output,
    Patch,
    RowId,
    UtcDatetime,
)
from postback.kit.linter import UrlWarning

CostModel = Literal["none", "cpc", "cpm", "token"]
NewStatus = Literal["active", "paused"]
Status = Literal["active", "paused", "archived"]
MAX_WEIGHT = 1_000_000


class CostIn(Input):
    """`none`; `cpc` or `cpm` with a value; `token`: the source sends the cost in the link."""

    model: CostModel
    value: Amount | None = None

    @model_validator(mode="after")
    def _value_fits_model(self) -> CostIn:
        if self.model in ("cpc", "cpm") and self.value is None:
            raise ValueError(f"a {self.model} cost needs a value")
        if self.model in ("none", "token") and self.value:
            raise ValueError(f"a {self.model} cost takes no value")
        return self


def _bare_amount_is_cpc(value: object) -> object:
    if isinstance(value, str | int | float | Decimal) and not isinstance(value, bool):
        return {"model": "cpc", "value": value}
    return value


Cost = Annotated[
    CostIn,
    BeforeValidator(_bare_amount_is_cpc),
    Field(description='A decimal CPC such as "0.05", or {"model": ..., "value": ...}'),
]


class CampaignOfferIn(Input):
    offer_id: RowId
    weight: int = Field(default=100, ge=0, le=MAX_WEIGHT)


def _each_offer_once(offers: list[CampaignOfferIn]) -> list[CampaignOfferIn]:
    seen: set[int] = set()
    for item in offers:
        if item.offer_id in seen:
            raise ValueError(f"offer {item.offer_id} is listed twice")
        seen.add(item.offer_id)
    return offers


OfferList = Annotated[list[CampaignOfferIn], Field(max_length=100)]


class CampaignCreate(Input):
    name: Name
    traffic_source_id: RowId
    offers: OfferList = Field(default_factory=list)
    cost: Cost | None = None
    status: NewStatus = "active"
    fallback_url: HttpUrlText | None = Field(
        default=None, description="Where visitors go while the campaign is paused or archived"
    )

    @field_validator("offers")
    @classmethod
    def _offers_once(cls, offers: list[CampaignOfferIn]) -> list[CampaignOfferIn]:
        return _each_offer_once(offers)


class CampaignUpdate(Patch):
    name: Annotated[Name | None, NotNull] = None
    traffic_source_id: Annotated[RowId | None, NotNull] = None
    offers: Annotated[OfferList | None, NotNull] = Field(
        default=None, description="Replaces the whole list"
    )
    cost: Cost | None = None
    status: Annotated[Status | None, NotNull] = None
    fallback_url: HttpUrlText | None = None
    archived: Annotated[bool | None, NotNull] = None

    @field_validator("offers")
    @classmethod
    def _offers_once(cls, offers: list[CampaignOfferIn] | None) -> list[CampaignOfferIn] | None:
        return _each_offer_once(offers) if offers is not None else None


class CostOut(Output):
    model: str
    value: str | None


class CampaignOfferOut(Output):
    offer_id: int
    weight: int


class CampaignOut(Output):
    id: int
    key: str
    name: str
    traffic_source_id: int
    status: str
    archived: bool
    offers: list[CampaignOfferOut]
    cost: CostOut
    fallback_url: str | None
    tracking_url: str
    tracking_link: str = Field(
        description="tracking_url with the traffic source's macros in its parameters: paste this"
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime
    warnings: list[UrlWarning] = Field(
        default_factory=list, description="What the URL linter found; errors refuse the save"
    )


class OfferLink(Output):
    offer_id: int
    offer_url: str
    network_id: int | None
    network_template: str | None
    postback_url: str | None = Field(description="The URL to paste into the offer's network")


class CampaignLinks(Output):
    """Everything to paste to set a campaign up, each URL in the other system's syntax."""

    campaign_id: int
    traffic_source_template: str
    tracking_link: str
    source_postback_url: str | None = Field(
        description="Where we send conversions: the traffic source's outbound postback"
    )
    offers: list[OfferLink]
