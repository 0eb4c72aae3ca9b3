"""Click rules: pick a path (by rule or weight), a lander and an offer; fill their URLs."""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from postback.clicks.fraud import click_flags
from postback.clicks.schemas import CampaignRoute, LanderRoute, OfferRoute, PathRoute
from postback.clicks.visitor import Visitor
from postback.kit import macros
from postback.kit.asgi import query_pairs, without_nul
from postback.kit.ids import new_click_id
from postback.kit.money import CLICK_COST_MAX_MICROS, InvalidAmount, parse_amount, to_micros
from postback.models import TOKEN_NAME_MAX, TOKEN_VALUE_MAX

MAX_TOKENS = 40


@dataclass(slots=True)
class NewClick:
    row: dict[str, Any]
    offer: OfferRoute | None
    location: str | None
    lander: LanderRoute | None = None


T = TypeVar("T")


def pick(items: Sequence[T], cum_weights: Sequence[int], rng: random.Random | None = None) -> T:
    if len(items) == 1:  # most paths have one offer: no draw needed
        return items[0]
    at = (rng or random).random() * cum_weights[-1]
    return items[bisect.bisect_right(cum_weights, at)]


def choose_path(
    route: CampaignRoute, row: dict[str, Any], tokens: dict[str, str]
) -> PathRoute | None:
    """The first matching rule's path, else one of the rotation's paths by weight."""
    for rule in route.rules:
        if rule.matches(row, tokens):
            return rule.path
    if not route.paths:
        return None
    return pick(route.paths, route.path_weights)


def read_tokens(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Query parameters as tokens: first value wins, names and values trimmed, count bounded."""
    tokens: dict[str, str] = {}
    for name, value in pairs:
        if len(tokens) >= MAX_TOKENS:
            break
        name = without_nul(name[:TOKEN_NAME_MAX])  # an escaped %00 decodes to NUL
        if name and name not in tokens:
            tokens[name] = without_nul(value[:TOKEN_VALUE_MAX])
    return tokens


def tokens_from_query(query: str) -> dict[str, str]:
    """`read_tokens` of a raw query string. Most tracking links carry plain values with
    nothing to unescape: those are split in one pass, without the list of pairs."""
    if "%" in query or "+" in query:
        return read_tokens(query_pairs(query))
    tokens: dict[str, str] = {}
    for part in query.split("&"):
        if len(tokens) >= MAX_TOKENS:
            break
        name, _, value = part.partition("=")
        if len(name) > TOKEN_NAME_MAX:  # (a slice costs more than the length test)
            name = name[:TOKEN_NAME_MAX]
        if name and name not in tokens:
            tokens[name] = value if len(value) <= TOKEN_VALUE_MAX else value[:TOKEN_VALUE_MAX]
    return tokens


def click_cost(route: CampaignRoute, tokens: dict[str, str]) -> int:
    if route.cost_model == "cpc":
        return route.cost_micros
    if route.cost_model == "cpm":
        return route.cost_micros // 1000
    if route.cost_model == "token":
        # The link is public: a cost token that is not a number from 0 to the maximum is
        # dropped (the click costs 0) and the click still redirects; the token's text stays in
        # the click's tokens, where the click log shows it.
        try:
            cost = to_micros(parse_amount(tokens.get(route.cost_param, "0")))
        except InvalidAmount:
            return 0
        return cost if 0 <= cost <= CLICK_COST_MAX_MICROS else 0
    return 0


def new_click(
    route: CampaignRoute,
    tokens: dict[str, str],
    visitor: Visitor,
    *,
    is_test: bool = False,
    skip_lander: bool = False,
    now: datetime | None = None,
) -> NewClick:
    now = now or datetime.now(UTC)
    device = visitor.device
    row = {  # the visitor's columns spelled out: Visitor.columns() made a dict to merge
        "id": new_click_id(),
        "created_at": now,
        "campaign_id": route.id,
        "offer_id": None,
        "lander_id": None,
        "traffic_source_id": route.traffic_source_id,
        "external_id": tokens.get(route.external_id_param),
        "tokens": tokens,
        "cost_micros": click_cost(route, tokens),
        "is_test": is_test,
        "ip": visitor.ip,
        "user_agent": visitor.user_agent,
        "referrer": visitor.referrer,
        "language": visitor.language,
        "country": visitor.country,
        "device": device.device,
        "os": device.os,
        "browser": device.browser,
        "flags": click_flags(visitor),  # before the rules: a rule may route on them
    }
    path = choose_path(route, row, tokens)
    if path is None:
        return NewClick(row=row, offer=None, location=route.fallback_url)
    # The offer is chosen now, with the lander: the click row is written once and never
    # updated, and the lander's link on (/lp) goes to the offer recorded here.
    offer = pick(path.offers, path.offer_weights)
    row["offer_id"] = offer.id
    if path.landers and not skip_lander:
        lander = pick(path.landers, path.lander_weights)
        row["lander_id"] = lander.id
        return NewClick(row, offer, fill_click_url(lander.url, row, offer.id, now), lander)
    return NewClick(row, offer, offer_url(offer, row, now))


def offer_url(offer: OfferRoute, row: dict[str, Any], now: datetime) -> str:
    return fill_click_url(offer.url, row, offer.id, now)


def fill_click_url(url: str, row: dict[str, Any], offer_id: int | None, now: datetime) -> str:
    """An offer or lander URL with the click's macros filled and URL-encoded."""
    template, plan = _click_plan(url)
    tokens = row["tokens"]
    values = {key: tokens.get(key) if own is None else own(row, offer_id, now) for key, own in plan}
    return template.fill(values)


OwnMacro = Callable[[dict[str, Any], "int | None", datetime], object]
# The click's own macros. They win over a token that happens to share a name; any other name
# is a token. kit/linter.py's OFFER_MACROS lists the same names.
_OWN_MACROS: dict[str, OwnMacro] = {
    "clickid": lambda row, offer_id, now: row["id"],
    "external_id": lambda row, offer_id, now: row["external_id"],
    "campaign_id": lambda row, offer_id, now: row["campaign_id"],
    "offer_id": lambda row, offer_id, now: offer_id,
    "country": lambda row, offer_id, now: row["country"],
    "os": lambda row, offer_id, now: row["os"],
    "device": lambda row, offer_id, now: row["device"],
    "browser": lambda row, offer_id, now: row["browser"],
    "timestamp": lambda row, offer_id, now: int(now.timestamp()),
}


@lru_cache(maxsize=4096)
def _click_plan(url: str) -> tuple[macros.Template, tuple[tuple[str, OwnMacro | None], ...]]:
    """A URL's template and the values it can ask for (each name and its lower-case
    fallback), each with its own-macro function or None for a token: a click works out only
    the macros of its URL, not the whole table."""
    # A macro in the host would let a visitor's value choose the site: it is left empty.
    template = macros.compile_template(url, lock_authority=True)
    keys = dict.fromkeys(key for name in template.names for key in (name, name.lower()))
    return template, tuple((key, _OWN_MACROS.get(key)) for key in keys)
