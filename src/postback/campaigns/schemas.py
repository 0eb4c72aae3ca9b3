"""Campaign payloads: a traffic source, weighted offers, a cost model and a tracking link."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    model_validator,
)

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
from postback.kit.money import (
    AMOUNT_MAX_MICROS,
    CLICK_COST_MAX_MICROS,
    format_micros,
    to_micros,
)

CostModel = Literal["none", "cpc", "cpm", "token", "cpa", "revshare"]
PRICED = ("cpc", "cpm", "cpa", "revshare")
NewStatus = Literal["active", "paused"]
PixelStatus = Literal["pending", "approved"]
_PIXEL_ENABLED = (
    "Accept the conversion pixel (GET /pixel, /pixel.js) for this campaign's clicks. Off by "
    "default: anyone who sees their own click ID can fire it"
)
_PIXEL_STATUS = "The status of a conversion the pixel records, until a postback supersedes it"
_PIXEL_FIRES = "Whether a pixel's conversion fires the traffic source's postback by itself"
Status = Literal["active", "paused", "archived"]
MAX_WEIGHT = 1_000_000
# What one click may cost (CPM is per thousand clicks), and one conversion (kit/money.py).
COST_MAX_MICROS = {
    "cpc": CLICK_COST_MAX_MICROS,
    "cpm": 1000 * CLICK_COST_MAX_MICROS,
    "cpa": AMOUNT_MAX_MICROS,
}


class CostIn(Input):
    """`none`; `cpc`, `cpm` or `cpa` with an amount; `revshare` with a percentage of revenue;
    `token`: the source sends the cost in the link."""

    model: CostModel
    value: Amount | None = None

    @model_validator(mode="after")
    def _value_fits_model(self) -> CostIn:
        if self.model in PRICED and self.value is None:
            raise ValueError(f"a {self.model} cost needs a value")
        if self.model in ("none", "token") and self.value:
            raise ValueError(f"a {self.model} cost takes no value")
        if self.model == "revshare" and self.value is not None and not 0 < self.value <= 100:
            raise ValueError("a revshare is a percentage of revenue above 0 and at most 100")
        top = COST_MAX_MICROS.get(self.model)
        if top is not None and self.value is not None and to_micros(self.value) > top:
            raise ValueError(f"a {self.model} cost is at most {format_micros(top)}")
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


class CampaignLanderIn(Input):
    lander_id: RowId
    weight: int = Field(default=100, ge=0, le=MAX_WEIGHT)


def _each_once(items: list[Any], attr: str, what: str) -> list[Any]:
    seen: set[int] = set()
    for item in items:
        item_id = getattr(item, attr)
        if item_id in seen:
            raise ValueError(f"{what} {item_id} is listed twice")
        seen.add(item_id)
    return items


OfferList = Annotated[
    list[CampaignOfferIn],
    Field(max_length=100),
    AfterValidator(lambda items: _each_once(items, "offer_id", "offer")),
]
LanderList = Annotated[
    list[CampaignLanderIn],
    Field(max_length=100),
    AfterValidator(lambda items: _each_once(items, "lander_id", "lander")),
]
PathName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
ConditionValues = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=255)]],
    Field(min_length=1, max_length=500),
]


class PathIn(Input):
    """One way through the campaign: optional landers, then offers, each picked by weight."""

    name: PathName = "default"
    weight: int = Field(
        default=100, ge=0, le=MAX_WEIGHT, description="0: reached only through a rule"
    )
    landers: LanderList = Field(default_factory=list)
    offers: OfferList = Field(default_factory=list)


class ConditionsIn(Input):
    """All given fields must match; within a field, any one of its values."""

    country: ConditionValues | None = Field(default=None, description="ISO codes, e.g. US")
    device: ConditionValues | None = Field(
        default=None, description="desktop, mobile, tablet, bot or other"
    )
    os: ConditionValues | None = Field(default=None, description="e.g. Android, iOS, Windows")
    browser: ConditionValues | None = None
    tokens: dict[str, ConditionValues] | None = Field(
        default=None, description='Token values by name, e.g. {"zone": ["123", "456"]}'
    )

    @model_validator(mode="after")
    def _something(self) -> ConditionsIn:
        if not self.model_fields_set - {"tokens"} and not self.tokens:
            raise ValueError("a rule needs at least one condition")
        return self


class RuleIn(Input):
    name: PathName
    when: ConditionsIn
    path: PathName = Field(description="The name of the path a matching click takes")


PathList = Annotated[list[PathIn], Field(max_length=50)]
RuleList = Annotated[list[RuleIn], Field(max_length=100)]


class _Routing(Input):
    """`offers` and `landers` are the short form of one path named "default"."""

    @model_validator(mode="after")
    def _one_form(self) -> Any:
        fields = self.model_fields_set
        if "paths" in fields and fields & {"offers", "landers"}:
            raise ValueError("give either paths, or offers and landers (one default path)")
        return self

    def routing(self) -> list[PathIn] | None:
        """The paths this body sets, or None when it leaves them as they are."""
        fields = self.model_fields_set
        if "paths" in fields:
            return list(getattr(self, "paths", None) or [])
        if fields & {"offers", "landers"}:
            offers = getattr(self, "offers", None) or []
            landers = getattr(self, "landers", None) or []
            return [PathIn(name="default", weight=100, offers=offers, landers=landers)]
        return None


class CampaignCreate(_Routing):
    name: Name
    traffic_source_id: RowId
    offers: OfferList = Field(default_factory=list)
    landers: LanderList = Field(default_factory=list)
    paths: PathList = Field(default_factory=list)
    rules: RuleList = Field(default_factory=list)
    cost: Cost | None = None
    status: NewStatus = "active"
    fallback_url: HttpUrlText | None = Field(
        default=None, description="Where visitors go while the campaign is paused or archived"
    )
    pixel_enabled: bool = Field(default=False, description=_PIXEL_ENABLED)
    pixel_status: PixelStatus = Field(default="pending", description=_PIXEL_STATUS)
    pixel_fires_postbacks: bool = Field(default=False, description=_PIXEL_FIRES)


class CampaignUpdate(_Routing, Patch):
    name: Annotated[Name | None, NotNull] = None
    traffic_source_id: Annotated[RowId | None, NotNull] = None
    offers: Annotated[OfferList | None, NotNull] = Field(
        default=None, description="Replaces the paths with one default path of these offers"
    )
    landers: Annotated[LanderList | None, NotNull] = None
    paths: Annotated[PathList | None, NotNull] = Field(
        default=None, description="Replaces the whole list"
    )
    rules: Annotated[RuleList | None, NotNull] = None
    cost: Cost | None = None
    status: Annotated[Status | None, NotNull] = None
    fallback_url: HttpUrlText | None = None
    archived: Annotated[bool | None, NotNull] = None
    pixel_enabled: Annotated[bool | None, NotNull] = Field(default=None, description=_PIXEL_ENABLED)
    pixel_status: Annotated[PixelStatus | None, NotNull] = Field(
        default=None, description=_PIXEL_STATUS
    )
    pixel_fires_postbacks: Annotated[bool | None, NotNull] = Field(
        default=None, description=_PIXEL_FIRES
    )


class CostOut(Output):
    model: str
    value: str | None


class CampaignOfferOut(Output):
    offer_id: int
    weight: int


class CampaignLanderOut(Output):
    lander_id: int
    weight: int


class PathOut(Output):
    name: str
    weight: int
    landers: list[CampaignLanderOut]
    offers: list[CampaignOfferOut]


class RuleOut(Output):
    name: str
    when: dict[str, Any]
    path: str


class CampaignOut(Output):
    id: int
    key: str
    name: str
    traffic_source_id: int
    status: str
    archived: bool
    offers: list[CampaignOfferOut] = Field(description="The offers of the first path")
    landers: list[CampaignLanderOut] = Field(description="The landers of the first path")
    paths: list[PathOut]
    rules: list[RuleOut]
    cost: CostOut
    fallback_url: str | None
    pixel_enabled: bool = Field(description=_PIXEL_ENABLED)
    pixel_status: str = Field(description=_PIXEL_STATUS)
    pixel_fires_postbacks: bool = Field(description=_PIXEL_FIRES)
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
    lander_click_url: str | None = Field(
        default=None,
        description="For the campaign's landers: the call-to-action link on to the offer "
        "(found by cookie; add ?clickid={clickid} when the lander has the click ID)",
    )
