"""Campaign rules: a live source, existing offers, a usable rotation, a cost model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from postback.campaigns import repository, routing
from postback.campaigns.schemas import (
    PRICED,
    CampaignCreate,
    CampaignLinks,
    CampaignUpdate,
    CostIn,
    OfferLink,
)
from postback.kit import linter
from postback.kit.errors import NotFound
from postback.kit.fields import field_error
from postback.kit.ids import new_key
from postback.kit.money import to_micros
from postback.models import Campaign, TrafficSource
from postback.networks import repository as networks
from postback.networks.service import postback_url
from postback.offers import repository as offers
from postback.templates import generators
from postback.traffic_sources import repository as traffic_sources


@dataclass(slots=True)
class CampaignView:
    campaign: Campaign
    source: TrafficSource | None = None


def create(session: Session, body: CampaignCreate) -> CampaignView:
    source = _check_source(session, body.traffic_source_id)
    paths = body.routing() or []
    field = "paths" if "paths" in body.model_fields_set else "offers"
    stored_paths, stored_rules = routing.check(session, body.status, paths, body.rules, field)
    if body.fallback_url:
        linter.enforce("fallback_url", linter.lint_url(body.fallback_url, "fallback"))
    campaign = Campaign(
        key=_unused_key(session),
        name=body.name,
        traffic_source_id=body.traffic_source_id,
        status=body.status,
        fallback_url=body.fallback_url,
        pixel_enabled=body.pixel_enabled,
        pixel_status=body.pixel_status,
        pixel_fires_postbacks=body.pixel_fires_postbacks,
        paths=stored_paths,
        rules=stored_rules,
        **_cost_columns(body.cost),
    )
    repository.add(session, campaign)
    return CampaignView(campaign, source)


def get(session: Session, campaign_id: int) -> CampaignView:
    campaign = _get(session, campaign_id)
    return CampaignView(campaign, traffic_sources.get(session, campaign.traffic_source_id))


def list_campaigns(
    session: Session,
    after: int | None,
    limit: int,
    include_archived: bool,
    traffic_source_id: int | None = None,
) -> list[CampaignView]:
    campaigns = repository.list_after(
        session,
        after,
        limit,
        include_archived=include_archived,
        traffic_source_id=traffic_source_id,
    )
    return [CampaignView(c, traffic_sources.get(session, c.traffic_source_id)) for c in campaigns]


def update(session: Session, campaign_id: int, body: CampaignUpdate) -> CampaignView:
    campaign = _get(session, campaign_id)
    changes: dict[str, Any] = body.changes()
    status = _next_status(
        campaign.status, changes.pop("status", None), changes.pop("archived", None)
    )
    new_paths = body.routing()
    for name in ("offers", "landers", "paths", "rules"):
        changes.pop(name, None)
    if "traffic_source_id" in changes:
        _check_source(session, changes["traffic_source_id"])
    if "cost" in changes:
        changes.update(_cost_columns(changes.pop("cost")))
    if changes.get("fallback_url"):
        linter.enforce("fallback_url", linter.lint_url(changes["fallback_url"], "fallback"))
    paths = new_paths if new_paths is not None else routing.as_inputs(campaign.paths)
    rules = body.rules if body.rules is not None else routing.rules_as_inputs(campaign.rules)
    touched = new_paths is not None or body.rules is not None
    field = _routing_field(body) if touched else "status"
    changes["paths"], changes["rules"] = routing.check(session, status, paths, rules, field)
    for name, value in {**changes, "status": status}.items():
        setattr(campaign, name, value)
    session.flush()
    return CampaignView(campaign, traffic_sources.get(session, campaign.traffic_source_id))


def _routing_field(body: CampaignUpdate) -> str:
    fields = body.model_fields_set
    return "paths" if "paths" in fields else "offers" if "offers" in fields else "rules"


def archive(session: Session, campaign_id: int) -> CampaignView:
    return update(session, campaign_id, CampaignUpdate(archived=True))


def url_warnings(campaign: Campaign) -> list[linter.UrlWarning]:
    if not campaign.fallback_url:
        return []
    return linter.warnings_of("fallback_url", linter.lint_url(campaign.fallback_url, "fallback"))


def tracking_link(view: CampaignView, public_url: str) -> str:
    source = view.source
    template = generators.template_or_custom(source.template if source else None)
    return generators.tracking_link(
        public_url,
        view.campaign.key,
        template,
        click_param=source.external_id_param if source else None,
        cost_param=source.cost_param if source else None,
    )


def links(session: Session, campaign_id: int, public_url: str) -> CampaignLinks:
    view = get(session, campaign_id)
    offer_ids = routing.offer_ids(view.campaign.paths)
    found = offers.get_many(session, offer_ids)
    items = []
    for offer_id in offer_ids:
        offer = found[offer_id]
        network = networks.get(session, offer.network_id) if offer.network_id else None
        items.append(
            OfferLink(
                offer_id=offer.id,
                offer_url=offer.url,
                network_id=offer.network_id,
                network_template=network.template if network else None,
                postback_url=postback_url(public_url, network, with_secret=True)
                if network
                else None,
            )
        )
    return CampaignLinks(
        campaign_id=view.campaign.id,
        traffic_source_template=view.source.template if view.source else "custom",
        tracking_link=tracking_link(view, public_url),
        source_postback_url=view.source.postback_url if view.source else None,
        offers=items,
        lander_click_url=f"{public_url.rstrip('/')}/lp" if _has_landers(view.campaign) else None,
    )


def _has_landers(campaign: Campaign) -> bool:
    return any(path["landers"] for path in campaign.paths)


def _get(session: Session, campaign_id: int) -> Campaign:
    campaign = repository.get(session, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return campaign


def _next_status(current: str, status: str | None, archived: bool | None) -> str:
    """Archiving is a status, so the click path needs no extra column to skip it."""
    if archived is None:
        return status or current
    if archived and status not in (None, "archived"):
        raise field_error("archived", f"contradicts status {status!r}")
    if archived:
        return "archived"
    if status == "archived":
        raise field_error("archived", "contradicts status 'archived'")
    # Unarchiving does not start buying traffic by surprise: it pauses unless told otherwise.
    return status or ("paused" if current == "archived" else current)


def _check_source(session: Session, source_id: int) -> TrafficSource:
    source = traffic_sources.get(session, source_id)
    if source is None:
        raise field_error("traffic_source_id", f"traffic source {source_id} does not exist")
    if source.archived:
        raise field_error("traffic_source_id", f"traffic source {source_id} is archived")
    return source


def _cost_columns(cost: CostIn | None) -> dict[str, Any]:
    if cost is None:
        return {"cost_model": "none", "cost_micros": 0}
    value = cost.value if cost.model in PRICED else None
    return {"cost_model": cost.model, "cost_micros": to_micros(value) if value else 0}


def _unused_key(session: Session) -> str:
    # 32^10 keys make a clash all but impossible; the unique constraint is the real guard.
    for _ in range(5):
        key = new_key()
        if not repository.key_exists(session, key):
            return key
    raise RuntimeError("could not find an unused campaign key")
