"""SQL for the click path."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import orjson
from sqlalchemy import Connection, select

from postback.clicks.schemas import CampaignRoute, OfferRoute
from postback.models import Campaign, CampaignOffer, Offer, TrafficSource


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
            TrafficSource.external_id_param,
            TrafficSource.cost_param,
        )
        .join(TrafficSource, TrafficSource.id == Campaign.traffic_source_id)
        .where(Campaign.key == campaign_key)
    ).one_or_none()
    if row is None:
        return None
    offers = conn.execute(
        select(Offer.id, Offer.url, Offer.network_id, CampaignOffer.weight)
        .join(CampaignOffer, CampaignOffer.offer_id == Offer.id)
        .where(CampaignOffer.campaign_id == row.id, CampaignOffer.weight > 0)
        .where(Offer.archived.is_(False))
        .order_by(CampaignOffer.position, Offer.id)
    ).all()
    return CampaignRoute.build(
        id=row.id,
        key=row.key,
        active=row.status == "active",
        traffic_source_id=row.traffic_source_id,
        external_id_param=row.external_id_param,
        cost_param=row.cost_param,
        cost_model=row.cost_model,
        cost_micros=row.cost_micros,
        fallback_url=row.fallback_url,
        offers=[OfferRoute(o.id, o.url, o.network_id, o.weight) for o in offers],
    )


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
)


class ClickRows:
    """Inserts a group commit's clicks with one executemany straight through the driver.

    SQLAlchemy's per-row bind processing (type decorators, JSON, datetimes) cost about 45 us a
    row, more than the insert itself; click rows have a fixed shape, so they are encoded here
    once, in the form each database stores: SQLite keeps SQLAlchemy's DATETIME text and JSON
    text, PostgreSQL takes aware datetimes and casts the JSON text.
    """

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        marks = ", ".join(
            ("?" if self.sqlite else "%s::json" if c == "tokens" else "%s") for c in _CLICK_COLUMNS
        )
        self.sql = f"INSERT INTO clicks ({', '.join(_CLICK_COLUMNS)}) VALUES ({marks})"

    def __call__(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        conn.exec_driver_sql(self.sql, [self._encode(row) for row in rows])

    def _encode(self, row: dict[str, Any]) -> tuple[Any, ...]:
        values = [row[c] for c in _CLICK_COLUMNS]
        values[14] = orjson.dumps(row["tokens"]).decode()
        if self.sqlite:
            at = row["created_at"].astimezone(UTC)
            values[1] = at.strftime("%Y-%m-%d %H:%M:%S.%f")
            values[16] = int(row["is_test"])
        return tuple(values)
