"""SQL for the click path."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from postback.clicks.schemas import CampaignRoute, LanderRoute, OfferRoute, PathRoute, RuleRoute
from postback.fraud import flags
from postback.kit.rows import DriverInsert
from postback.models import (
    Campaign,
    Click,
    Conversion,
    Lander,
    LanderClick,
    Offer,
    TrafficSource,
)


def load_route(conn: Connection, campaign_key: str) -> CampaignRoute | None:
    row = conn.execute(
        select(
            Campaign.id,
            Campaign.key,
            Campaign.status,
            Campaign.traffic_source_id,
            Campaign.cost_model,
            Campaign.cost_micros,
            Campaign.fallback_url,
            Campaign.paths,
            Campaign.rules,
            TrafficSource.external_id_param,
            TrafficSource.cost_param,
        )
        .join(TrafficSource, TrafficSource.id == Campaign.traffic_source_id)
        .where(Campaign.key == campaign_key)
    ).one_or_none()
    if row is None:
        return None
    offers = _live_offers(conn, [o for p in row.paths for o, _ in p["offers"]])
    landers = _live_landers(conn, [x for p in row.paths for x, _ in p["landers"]])
    fields = {
        "id": row.id,
        "key": row.key,
        "active": row.status == "active",
        "traffic_source_id": row.traffic_source_id,
        "external_id_param": row.external_id_param,
        "cost_param": row.cost_param,
        "cost_model": row.cost_model,
        "cost_micros": row.cost_micros,
        "fallback_url": row.fallback_url,
    }
    capped = capped_offers(conn, offers.values())
    route = _route(row, offers, landers, capped, fields)
    if capped and not route.offers and not row.fallback_url:
        # Every offer is capped and there is nowhere else to send paid traffic: a cap never
        # turns a visitor into a 404, so the capped offers keep it.
        route = _route(row, offers, landers, {}, fields)
    return route


def _route(
    row: Any,
    offers: dict[int, Any],
    landers: dict[int, Any],
    capped: dict[int, int | None],
    fields: dict[str, Any],
) -> CampaignRoute:
    by_name: dict[str, PathRoute] = {}
    for path in row.paths:
        chosen: list[OfferRoute] = []
        for offer_id, weight in path["offers"]:
            target = capped.get(offer_id, offer_id) if offer_id in capped else offer_id
            offer = offers.get(target) if target is not None else None
            if offer is not None and weight > 0:
                chosen.append(OfferRoute(offer.id, offer.url, offer.network_id, weight))
        pages = [
            LanderRoute(landers[i].id, landers[i].url, w)
            for i, w in path["landers"]
            if i in landers and w > 0
        ]
        by_name[path["name"]] = PathRoute.build(path["name"], path["weight"], pages, chosen)
    rules = [
        _rule(rule, by_name[rule["path"]])
        for rule in row.rules
        if rule["path"] in by_name and by_name[rule["path"]].offers
    ]
    return CampaignRoute.build(paths=list(by_name.values()), rules=rules, **fields)


def _rule(rule: dict[str, Any], path: PathRoute) -> RuleRoute:
    when = rule["when"]

    def values(name: str) -> frozenset[str] | None:
        return frozenset(when[name]) if when.get(name) else None

    tokens = tuple((name, frozenset(v)) for name, v in (when.get("tokens") or {}).items())
    return RuleRoute(
        rule["name"],
        path,
        values("country"),
        values("device"),
        values("os"),
        values("browser"),
        tokens,
        flags.mask_of(when.get("flags") or ()),
    )


def _live_offers(conn: Connection, offer_ids: list[int]) -> dict[int, Any]:
    """The campaign's live offers, and the live fallbacks of those with a daily cap."""
    if not offer_ids:
        return {}
    columns = (
        Offer.id,
        Offer.url,
        Offer.network_id,
        Offer.daily_cap,
        Offer.cap_timezone,
        Offer.cap_fallback_offer_id,
    )
    live = Offer.archived.is_(False)
    found = {o.id: o for o in conn.execute(select(*columns).where(Offer.id.in_(offer_ids), live))}
    fallbacks = {o.cap_fallback_offer_id for o in found.values() if o.daily_cap} - {None}
    if fallbacks - found.keys():
        query = select(*columns).where(Offer.id.in_(fallbacks - found.keys()), live)
        found.update({o.id: o for o in conn.execute(query)})
    return found


def _live_landers(conn: Connection, lander_ids: list[int]) -> dict[int, Any]:
    if not lander_ids:
        return {}
    query = select(Lander.id, Lander.url).where(
        Lander.id.in_(lander_ids), Lander.archived.is_(False)
    )
    return {x.id: x for x in conn.execute(query)}


def capped_offers(conn: Connection, offers: Iterable[Any]) -> dict[int, int | None]:
    """Offers that reached their daily cap, each mapped to its fallback offer (or None).

    Counts today's conversions in each offer's cap time zone, test conversions and rejected
    ones left out. The route cache re-reads this every few seconds, so a busy offer can go a
    few conversions over its cap before the clicks move on.
    """
    with_cap = [o for o in offers if o.daily_cap]
    if not with_cap:
        return {}
    capped: dict[int, int | None] = {}
    for zone in {o.cap_timezone for o in with_cap}:
        group = [o for o in with_cap if o.cap_timezone == zone]
        now = datetime.now(ZoneInfo(zone))
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        counts = dict(
            conn.execute(
                select(Conversion.offer_id, func.count())
                .where(
                    Conversion.offer_id.in_([o.id for o in group]),
                    Conversion.created_at >= day_start,
                    Conversion.is_test.is_(False),
                    Conversion.status != "rejected",
                )
                .group_by(Conversion.offer_id)
            ).all()
        )
        for offer in group:
            if counts.get(offer.id, 0) >= offer.daily_cap:
                capped[offer.id] = offer.cap_fallback_offer_id
    return capped


def click_for_lander(conn: Connection, clickid: str) -> tuple[dict[str, Any], str] | None:
    """The click's macro values and its offer's URL template, for the lander's way on."""
    found = conn.execute(
        select(
            Click.id,
            Click.external_id,
            Click.campaign_id,
            Click.offer_id,
            Click.lander_id,
            Click.tokens,
            Click.country,
            Click.os,
            Click.device,
            Click.browser,
            Offer.url,
        )
        .join(Offer, Offer.id == Click.offer_id)
        .where(Click.id == clickid)
    ).one_or_none()
    if found is None:
        return None
    row = dict(found._mapping)
    return row, row.pop("url")


def lander_click_job(row: dict[str, Any]) -> Callable[[Connection], None]:
    values = {
        "click_id": row["id"],
        "at": datetime.now(UTC),
        "campaign_id": row["campaign_id"],
        "lander_id": row["lander_id"],
    }

    def job(conn: Connection) -> None:
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        # A second click-through of the same click (back button, double click) counts once.
        stmt = dialect_insert(LanderClick).values(values).on_conflict_do_nothing()
        conn.execute(stmt)

    return job


_CLICK_COLUMNS = (
    "id",
    "created_at",
    "campaign_id",
    "offer_id",
    "traffic_source_id",
    "ip",
    "user_agent",
    "referrer",
    "language",
    "country",
    "device",
    "os",
    "browser",
    "external_id",
    "tokens",
    "cost_micros",
    "is_test",
    "lander_id",
    "flags",
)


class ClickRows(DriverInsert):
    """Inserts a group commit's clicks with one executemany straight through the driver
    (kit/rows.py): SQLAlchemy's per-row bind processing cost more than the insert itself."""

    def __init__(self, dialect: str = "") -> None:
        # `dialect` is accepted for older callers; the connection tells the dialect now.
        super().__init__(Click.__table__, _CLICK_COLUMNS)  # type: ignore[arg-type]
