"""Shapes of the click path: the cached campaign route and the click API's payloads."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field


@dataclass(frozen=True, slots=True)
class OfferRoute:
    id: int
    url: str
    network_id: int | None
    weight: int


@dataclass(frozen=True, slots=True)
class CampaignRoute:
    """Everything the redirect needs about a campaign, read once and cached."""

    id: int
    key: str
    active: bool
    traffic_source_id: int
    external_id_param: str
    cost_param: str
    cost_model: str
    cost_micros: int
    fallback_url: str | None
    offers: tuple[OfferRoute, ...]
    cum_weights: tuple[int, ...]

    @classmethod
    def build(cls, *, offers: list[OfferRoute], **fields: Any) -> CampaignRoute:
        cum = tuple(itertools.accumulate(o.weight for o in offers))
        return cls(offers=tuple(offers), cum_weights=cum, **fields)


class ClickCreate(BaseModel):
    campaign_key: str = Field(min_length=1, max_length=32)
    tokens: dict[str, str] = Field(default_factory=dict)
    ip: str | None = Field(default=None, max_length=45)
    user_agent: str | None = None
    referrer: str | None = None
    language: str | None = None
    test: bool = False


class ClickCreated(BaseModel):
    clickid: str
    campaign_id: int
    offer_id: int | None
    offer_url: str | None
    external_id: str | None
    country: str | None
    device: str | None
