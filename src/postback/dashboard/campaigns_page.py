"""`/campaigns`: the list, and one campaign's form (traffic source, offers and landers with
weights, cost model, fallback URL) with every link to paste, ready to copy.

The form edits a campaign's one path as repeated rows. A campaign with several paths, and
every campaign's rules, are shown read-only here and edited through the admin API
(`PATCH /api/v1/campaigns/{id}`); the form then leaves them as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from postback.campaigns import routing
from postback.campaigns import service as campaigns
from postback.campaigns.schemas import PRICED, CampaignCreate, CampaignLinks, CampaignUpdate
from postback.campaigns.service import CampaignView
from postback.dashboard.auth import AdminPost, UserDep
from postback.dashboard.forms import FormData
from postback.dashboard.render import render
from postback.dashboard.setup import ArchiveAction, Saved, ShowArchived, see_other
from postback.dashboard.setup_forms import MAX_LISTED, FieldErrors, Refused, attempt, rows
from postback.kit.deps import RuntimeDep
from postback.kit.fields import is_digits
from postback.kit.money import format_micros
from postback.kit.pagination import IdPath
from postback.kit.session import ReadSessionDep, SessionDep, config_changed
from postback.landers import service as landers
from postback.networks import service as networks
from postback.offers import service as offers
from postback.runtime import Runtime
from postback.traffic_sources import service as sources

router = APIRouter(include_in_schema=False)
COST_MODELS = ("none", "cpc", "cpm", "token", "cpa", "revshare")
COST_NAMES = {
    "none": "none",
    "cpc": "CPC: per click",
    "cpm": "CPM: per 1,000 clicks",
    "token": "from the link's cost token",
    "cpa": "CPA: per conversion",
    "revshare": "RevShare: % of revenue",
}
SPARE_ROWS = 2
MAX_ROWS = 100


def _row_count(form: FormData, name: str) -> int:
    text = form.text(name, 5)
    return min(int(text), MAX_ROWS) if is_digits(text) else 0


def _fields(form: FormData, *, editing: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": form.text("name", 200),
        "traffic_source_id": form.text("traffic_source_id", 20),
        "status": form.text("status", 20) or "active",
    }
    if not form.get("paths_locked"):
        data["offers"] = rows(form, "offer", "offer_id", _row_count(form, "offer_rows"))
        data["landers"] = rows(form, "lander", "lander_id", _row_count(form, "lander_rows"))
    model = form.text("cost_model", 20) or "none"
    value = form.text("cost_value", 40)
    data["cost"] = {"model": model, "value": value} if value else {"model": model}
    fallback = form.text("fallback_url", 4096)
    if fallback or editing:
        data["fallback_url"] = fallback or None
    data["pixel_enabled"] = bool(form.get("pixel_enabled"))
    data["pixel_status"] = form.text("pixel_status", 20) or "pending"
    data["pixel_fires_postbacks"] = bool(form.get("pixel_fires_postbacks"))
    return data


def _values(view: CampaignView) -> dict[str, Any]:
    campaign = view.campaign
    paths = routing.paths_out(campaign.paths)
    first = paths[0] if paths else {"offers": [], "landers": []}
    values: dict[str, Any] = {
        "name": campaign.name,
        "traffic_source_id": str(campaign.traffic_source_id),
        "status": campaign.status,
        "cost_model": campaign.cost_model,
        "cost_value": format_micros(campaign.cost_micros) if campaign.cost_model in PRICED else "",
        "fallback_url": campaign.fallback_url or "",
        "pixel_enabled": campaign.pixel_enabled,
        "pixel_status": campaign.pixel_status,
        "pixel_fires_postbacks": campaign.pixel_fires_postbacks,
    }
    for kind in ("offer", "lander"):
        for i, item in enumerate(first[f"{kind}s"]):
            values[f"{kind}_{i}"] = str(item[f"{kind}_id"])
            values[f"{kind}_weight_{i}"] = str(item["weight"])
    return values


def _filled_rows(values: dict[str, Any], kind: str) -> int:
    """Rows up to the last one with a value, so a re-shown form keeps every row typed."""
    filled = [i for i in range(MAX_ROWS) if values.get(f"{kind}_{i}")]
    return filled[-1] + 1 if filled else 0


def _options(items: Sequence[Any]) -> list[tuple[str, str]]:
    # Archived ones are listed (marked) so an edit never drops them silently; the save then
    # says they are archived.
    return [(str(i.id), i.name + (" (archived)" if i.archived else "")) for i in items]


def _links(session: Session, runtime: Runtime, campaign_id: int, admin: bool) -> CampaignLinks:
    links = campaigns.links(session, campaign_id, runtime.settings.public_url)
    if not admin:
        # Viewers see where to paste, not the networks' (or the source's) secrets.
        source = campaigns.get(session, campaign_id).source
        links.source_postback_url = sources.masked_postback_url(source) if source else None
        for item in links.offers:
            if item.network_id is not None:
                network = networks.get(session, item.network_id)
                item.postback_url = networks.postback_url(
                    runtime.settings.public_url, network, with_secret=False
                )
    return links


def _page(
    request: Request, session: Session, runtime: Runtime, *, view: CampaignView | None,
    values: dict[str, Any], errors: FieldErrors | None = None, status_code: int = 200,
    saved: str = "",
) -> HTMLResponse:  # fmt: skip
    campaign = view.campaign if view else None
    paths = routing.paths_out(campaign.paths) if campaign else []
    all_offers = offers.list_offers(session, None, MAX_LISTED, True)
    all_landers = landers.list_landers(session, None, MAX_LISTED, True)
    context = {
        "campaign": campaign,
        "values": values,
        "errors": errors or {},
        "source_options": _options(sources.list_sources(session, None, MAX_LISTED, True)),
        "offer_options": _options(all_offers),
        "lander_options": _options(all_landers),
        "offer_names": {o.id: o.name for o in all_offers},
        "lander_names": {lander.id: lander.name for lander in all_landers},
        "offer_rows": max(_filled_rows(values, "offer"), 1) + SPARE_ROWS,
        "lander_rows": _filled_rows(values, "lander") + SPARE_ROWS,
        "paths": paths,
        "paths_locked": len(paths) > 1,
        "rules": campaign.rules if campaign else [],
        "cost_options": [(m, COST_NAMES[m]) for m in COST_MODELS],
        "pixel_status_options": [("pending", "pending (provisional)"), ("approved", "approved")],
        "links": _links(session, runtime, campaign.id, request.state.user.is_admin)
        if campaign
        else None,
        "warnings": campaigns.url_warnings(campaign) if campaign and not errors else [],
        "saved": saved,
    }
    return render(request, "campaign.html", context, status_code=status_code)


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(
    request: Request, user: UserDep, session: ReadSessionDep, runtime: RuntimeDep,
    show_archived: ShowArchived = False,
) -> HTMLResponse:  # fmt: skip
    views = campaigns.list_campaigns(session, None, MAX_LISTED, show_archived)
    context = {
        "views": views,
        "tracking": {
            v.campaign.id: campaigns.tracking_link(v, runtime.settings.public_url) for v in views
        },
        "show_archived": show_archived,
    }
    return render(request, "campaigns.html", context)


@router.get("/campaigns/new", response_class=HTMLResponse)
def new_campaign(
    request: Request, user: UserDep, session: ReadSessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    return _page(request, session, runtime, view=None, values={"cost_model": "none"})


@router.post("/campaigns", response_class=HTMLResponse)
def create_campaign(
    request: Request, post: AdminPost, session: SessionDep, runtime: RuntimeDep
) -> Response:
    data = _fields(post.form, editing=False)
    try:
        view = attempt(
            session, lambda: campaigns.create(session, CampaignCreate.model_validate(data))
        )
    except Refused as refused:
        return _page(request, session, runtime, view=None, values=dict(post.form),
                     errors=refused.errors, status_code=422)  # fmt: skip
    config_changed(session, runtime)
    return see_other(f"/campaigns/{view.campaign.id}?saved=1")


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(
    request: Request, campaign_id: IdPath, user: UserDep, session: ReadSessionDep,
    runtime: RuntimeDep, saved: Saved = "",
) -> HTMLResponse:  # fmt: skip
    view = campaigns.get(session, campaign_id)
    return _page(request, session, runtime, view=view, values=_values(view), saved=saved)


@router.post("/campaigns/{campaign_id}", response_class=HTMLResponse)
def update_campaign(
    request: Request, campaign_id: IdPath, post: AdminPost, session: SessionDep,
    runtime: RuntimeDep,
) -> Response:  # fmt: skip
    data = _fields(post.form, editing=True)
    if data["traffic_source_id"] == str(
        campaigns.get(session, campaign_id).campaign.traffic_source_id
    ):
        del data["traffic_source_id"]  # unchanged: not checked again (it may be archived since)
    try:
        attempt(
            session,
            lambda: campaigns.update(session, campaign_id, CampaignUpdate.model_validate(data)),
        )
    except Refused as refused:
        view = campaigns.get(session, campaign_id)
        return _page(request, session, runtime, view=view, values=dict(post.form),
                     errors=refused.errors, status_code=422)  # fmt: skip
    config_changed(session, runtime)
    return see_other(f"/campaigns/{campaign_id}?saved=1")


@router.post("/campaigns/{campaign_id}/{action}")
def archive_campaign(
    campaign_id: IdPath, action: ArchiveAction, post: AdminPost, session: SessionDep,
    runtime: RuntimeDep,
) -> Response:  # fmt: skip
    campaigns.update(session, campaign_id, CampaignUpdate(archived=action == "archive"))
    config_changed(session, runtime)
    return see_other(f"/campaigns/{campaign_id}?saved={action}")
