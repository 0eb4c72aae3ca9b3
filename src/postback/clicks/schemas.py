"""Shapes of the click path: the cached campaign route and the click API's payloads."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from postback.fraud.schemas import FlagsOut


@dataclass(frozen=True, slots=True)
class OfferRoute:
    id: int
    url: str
    network_id: int | None
    weight: int


@dataclass(frozen=True, slots=True)
class LanderRoute:
    id: int
    url: str
    weight: int


@dataclass(frozen=True, slots=True)
class PathRoute:
    """Landers (maybe none) then offers, each list with its cumulative weights for bisect."""

    name: str
    weight: int
    landers: tuple[LanderRoute, ...]
    lander_weights: tuple[int, ...]
    offers: tuple[OfferRoute, ...]
    offer_weights: tuple[int, ...]

    @classmethod
    def build(
        cls, name: str, weight: int, landers: list[LanderRoute], offers: list[OfferRoute]
    ) -> PathRoute:
        return cls(
            name,
            weight,
            tuple(landers),
            tuple(itertools.accumulate(x.weight for x in landers)),
            tuple(offers),
            tuple(itertools.accumulate(o.weight for o in offers)),
        )


@dataclass(frozen=True, slots=True)
class RuleRoute:
    """A rule sends the clicks it matches down one path; None means "any value"."""

    name: str
    path: PathRoute
    country: frozenset[str] | None
    device: frozenset[str] | None
    os: frozenset[str] | None
    browser: frozenset[str] | None
    tokens: tuple[tuple[str, frozenset[str]], ...]
    flags: int = 0  # any of these fraud flags (bits); 0: no condition

    def matches(self, row: dict[str, Any], tokens: dict[str, str]) -> bool:
        return (
            (not self.flags or bool(row["flags"] & self.flags))
            and _in(self.country, row["country"], upper=True)
            and _in(self.device, row["device"])
            and _in(self.os, row["os"])
            and _in(self.browser, row["browser"])
            and all(tokens.get(name) in values for name, values in self.tokens)
        )


def _in(allowed: frozenset[str] | None, value: str | None, *, upper: bool = False) -> bool:
    if allowed is None:
        return True
    if value is None:
        return False
    return (value.upper() if upper else value.lower()) in allowed


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
    # The paths of the weighted rotation (weight above 0), then the rules in order.
    paths: tuple[PathRoute, ...]
    path_weights: tuple[int, ...]
    rules: tuple[RuleRoute, ...]
    routable: bool

    @classmethod
    def build(
        cls, *, paths: list[PathRoute], rules: list[RuleRoute] | None = None, **fields: Any
    ) -> CampaignRoute:
        rotation = tuple(p for p in paths if p.weight > 0 and p.offers)
        cum = tuple(itertools.accumulate(p.weight for p in rotation))
        rules = list(rules or ())
        routable = bool(rotation or rules)
        return cls(
            paths=rotation, path_weights=cum, rules=tuple(rules), routable=routable, **fields
        )

    @property
    def offers(self) -> tuple[OfferRoute, ...]:
        """Every offer a click can reach, once."""
        seen: dict[int, OfferRoute] = {}
        for path in (*self.paths, *(r.path for r in self.rules)):
            for offer in path.offers:
                seen.setdefault(offer.id, offer)
        return tuple(seen.values())

    def straight_to(self, offer: OfferRoute) -> CampaignRoute:
        """This route with one path, no lander, one offer: test clicks go where they say."""
        path = PathRoute.build("test", 1, [], [dataclasses.replace(offer, weight=1)])
        return dataclasses.replace(self, paths=(path,), path_weights=(1,), rules=(), routable=True)


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
    flags: FlagsOut = Field(default_factory=list)
