"""SQL for the click path."""

from __future__ import annotations

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
