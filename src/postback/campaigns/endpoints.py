"""`/api/v1/campaigns`: create, read, list, update (PATCH may replace the paths), archive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from postback.api_keys.auth import REQUIRE_API_KEY
from postback.campaigns import routing, service
from postback.campaigns.schemas import (
    PRICED,
    CampaignCreate,
    CampaignLinks,
    CampaignOut,
    CampaignUpdate,
)
from postback.campaigns.service import CampaignView
from postback.kit.deps import RuntimeDep
from postback.kit.fields import MAX_ROW_ID
from postback.kit.money import format_micros
from postback.kit.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    IdPath,
    LimitQuery,
    Page,
    int_cursor,
    page_of,
)
from postback.kit.session import ReadSessionDep, SessionDep, config_changed
from postback.runtime import Runtime

router = APIRouter(prefix="/campaigns", tags=["campaigns"], dependencies=REQUIRE_API_KEY)


def _out(view: CampaignView, runtime: Runtime) -> CampaignOut:
    campaign = view.campaign
    priced = campaign.cost_model in PRICED
    paths = routing.paths_out(campaign.paths)
    first = paths[0] if paths else {"offers": [], "landers": []}
    return CampaignOut.model_validate(
        {
            "id": campaign.id,
            "key": campaign.key,
            "name": campaign.name,
            "traffic_source_id": campaign.traffic_source_id,
            "status": campaign.status,
            "archived": campaign.status == "archived",
            "offers": first["offers"],
            "landers": first["landers"],
            "paths": paths,
            "rules": campaign.rules,
            "cost": {
                "model": campaign.cost_model,
                "value": format_micros(campaign.cost_micros) if priced else None,
            },
            "fallback_url": campaign.fallback_url,
            "pixel_enabled": campaign.pixel_enabled,
            "pixel_status": campaign.pixel_status,
            "pixel_fires_postbacks": campaign.pixel_fires_postbacks,
            "tracking_url": f"{runtime.settings.public_url.rstrip('/')}/c/{campaign.key}",
            "tracking_link": service.tracking_link(view, runtime.settings.public_url),
            "warnings": service.url_warnings(campaign),
            "created_at": campaign.created_at,
            "updated_at": campaign.updated_at,
        }
    )


@router.get("", response_model=Page[CampaignOut])
def list_campaigns(
    session: ReadSessionDep,
    runtime: RuntimeDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    include_archived: bool = False,
    traffic_source_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Page[CampaignOut]:
    views = service.list_campaigns(
        session, int_cursor(cursor), limit + 1, include_archived, traffic_source_id
    )
    return page_of(views, limit, lambda v: _out(v, runtime), lambda v: v.campaign.id)


@router.post("", status_code=201, response_model=CampaignOut)
def create_campaign(body: CampaignCreate, session: SessionDep, runtime: RuntimeDep) -> CampaignOut:
    view = service.create(session, body)
    config_changed(session, runtime)
    return _out(view, runtime)


@router.get("/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: IdPath, session: ReadSessionDep, runtime: RuntimeDep) -> CampaignOut:
    return _out(service.get(session, campaign_id), runtime)


@router.get("/{campaign_id}/links", response_model=CampaignLinks)
def get_campaign_links(
    campaign_id: IdPath, session: ReadSessionDep, runtime: RuntimeDep
) -> CampaignLinks:
    """The tracking link for the traffic source and the postback URL for each offer's network."""
    return service.links(session, campaign_id, runtime.settings.public_url)


@router.patch("/{campaign_id}", response_model=CampaignOut)
def update_campaign(
    campaign_id: IdPath, body: CampaignUpdate, session: SessionDep, runtime: RuntimeDep
) -> CampaignOut:
    view = service.update(session, campaign_id, body)
    config_changed(session, runtime)
    return _out(view, runtime)


@router.delete("/{campaign_id}", response_model=CampaignOut)
def archive_campaign(campaign_id: IdPath, session: SessionDep, runtime: RuntimeDep) -> CampaignOut:
    view = service.archive(session, campaign_id)
    config_changed(session, runtime)
    return _out(view, runtime)
