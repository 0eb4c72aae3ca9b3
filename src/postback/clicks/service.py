"""Click rules: pick an offer, make the click row, fill the offer URL."""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from postback.clicks.schemas import CampaignRoute, OfferRoute
from postback.clicks.visitor import Visitor
from postback.kit import macros
from postback.kit.ids import new_click_id
from postback.kit.money import InvalidAmount, parse_amount, to_micros
from postback.models import TOKEN_VALUE_MAX

MAX_TOKENS = 40
TOKEN_NAME_MAX = 50


@dataclass(slots=True)
class NewClick:
    row: dict[str, Any]
    offer: OfferRoute | None
    location: str | None


def choose_offer(route: CampaignRoute, rng: random.Random | None = None) -> OfferRoute | None:
    if not route.offers:
        return None
    pick = (rng or random).random() * route.cum_weights[-1]
    return route.offers[bisect.bisect_right(route.cum_weights, pick)]


def read_tokens(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Query parameters as tokens: first value wins, names and values trimmed, count bounded."""
    tokens: dict[str, str] = {}
    for name, value in pairs:
        if len(tokens) >= MAX_TOKENS:
            break
        name = name[:TOKEN_NAME_MAX]
        if name and name not in tokens:
            tokens[name] = value[:TOKEN_VALUE_MAX]
    return tokens


def click_cost(route: CampaignRoute, tokens: dict[str, str]) -> int:
    if route.cost_model == "cpc":
        return route.cost_micros
    if route.cost_model == "cpm":
        return route.cost_micros // 1000
    if route.cost_model == "token":
        try:
            return max(0, to_micros(parse_amount(tokens.get(route.cost_param, "0"))))
        except InvalidAmount:
            return 0
    return 0


def new_click(
    route: CampaignRoute,
    tokens: dict[str, str],
    visitor: Visitor,
    *,
    is_test: bool = False,
    now: datetime | None = None,
) -> NewClick:
    now = now or datetime.now(UTC)
    clickid = new_click_id()
    offer = choose_offer(route)
    external_id = tokens.get(route.external_id_param)
    row = {
        "id": clickid,
        "created_at": now,
        "campaign_id": route.id,
        "offer_id": offer.id if offer else None,
        "traffic_source_id": route.traffic_source_id,
        "external_id": external_id,
        "tokens": tokens,
        "cost_micros": click_cost(route, tokens),
        "is_test": is_test,
        **visitor.columns(),
    }
    location = offer_url(offer, row, now) if offer else route.fallback_url
    return NewClick(row=row, offer=offer, location=location)


def offer_url(offer: OfferRoute, row: dict[str, Any], now: datetime) -> str:
    # Tokens first, so that our own values win over a token that happens to share a name.
    values: dict[str, object] = dict(row["tokens"])
    values.update(
        clickid=row["id"],
        external_id=row["external_id"],
        campaign_id=row["campaign_id"],
        offer_id=offer.id,
        country=row["country"],
        os=row["os"],
        device=row["device"],
        browser=row["browser"],
        timestamp=int(now.timestamp()),
    )
    return macros.fill(offer.url, values)
