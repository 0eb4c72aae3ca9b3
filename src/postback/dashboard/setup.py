"""`/setup`: the hub of the set-up pages, and traffic sources (list, create from a template,
edit, archive, restore).

Every save goes through the resource's service with the admin API's request model, so a page
refuses exactly what the API refuses; the refusal is shown next to the fields (setup_forms.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from postback.conversions.parsing import STATUSES
from postback.dashboard.auth import AdminPost, UserDep
from postback.dashboard.forms import FormData
from postback.dashboard.render import SECURITY_HEADERS, render
from postback.dashboard.setup_forms import (
    MAX_LISTED,
    FieldErrors,
    Refused,
    attempt,
    given,
    split_list,
)
from postback.kit.deps import RuntimeDep
from postback.kit.pagination import IdPath
from postback.kit.session import ReadSessionDep, SessionDep, config_changed
from postback.landers import service as landers
from postback.models import TrafficSource
from postback.networks import service as networks
from postback.offers import service as offers
from postback.templates import registry
from postback.templates.schemas import Template
from postback.traffic_sources import service as sources
from postback.traffic_sources.schemas import TrafficSourceCreate, TrafficSourceUpdate

router = APIRouter(include_in_schema=False)
ShowArchived = Annotated[bool, Query(alias="archived")]
# The last step of an archive (or restore) form's path; anything else is a 400 page.
ArchiveAction = Annotated[Literal["archive", "restore"], Path()]
# After a save the page says so: ?saved=1 (saved), archive or restore.
Saved = Annotated[Literal["", "1", "archive", "restore"], Query()]


def see_other(path: str) -> Response:
    return RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)


def source_templates() -> list[Template]:
    return [t for t in registry.all_templates().values() if t.source is not None]


def network_templates() -> list[Template]:
    return [t for t in registry.all_templates().values() if t.network is not None]


def template_titles() -> dict[str, str]:
    return {t.name: t.title for t in registry.all_templates().values()}


@router.get("/setup", response_class=HTMLResponse)
def setup_page(
    request: Request, user: UserDep, session: ReadSessionDep, runtime: RuntimeDep,
    show_archived: ShowArchived = False,
) -> HTMLResponse:  # fmt: skip
    listed = sources.list_sources(session, None, MAX_LISTED, show_archived)
    context = {
        "sources": listed,
        # A list is shown to viewers and on screens: the sources' credentials are masked.
        "source_urls": {s.id: sources.masked_postback_url(s) for s in listed},
        "networks": networks.list_networks(session, None, MAX_LISTED, show_archived),
        "offers": offers.list_offers(session, None, MAX_LISTED, show_archived),
        "landers": landers.list_landers(session, None, MAX_LISTED, show_archived),
        "titles": template_titles(),
        "show_archived": show_archived,
    }
    return render(request, "setup.html", context)


def pick_page(request: Request, kind: str, templates: list[Template]) -> HTMLResponse:
    return render(request, "setup_pick.html", {"kind": kind, "templates": templates})


# Traffic sources -------------------------------------------------------------------------


def _variant_settings(template: Template | None, variant: str) -> list[str]:
    chosen = template.variant(variant) if template else None
    return list(chosen.settings) if chosen else []


def _all_settings(template: Template | None) -> list[str]:
    variants = template.source.postbacks if template and template.source else []
    return list(dict.fromkeys(name for v in variants for name in v.settings))


def _source_fields(form: FormData) -> dict[str, Any]:
    """The form as a traffic-source request body (create and edit take the same fields)."""
    data: dict[str, Any] = given(form, ["template", "external_id_param", "cost_param"])
    data["name"] = form.text("name", 200)  # blank is refused, not read as "unchanged"
    variant = form.text("postback_variant", 50)
    if variant:
        template = registry.get(data.get("template", registry.CUSTOM))
        settings = {n: form.text(f"setting_{n}", 100) for n in _variant_settings(template, variant)}
        data["postback_variant"] = variant
        data["postback_settings"] = {n: v for n, v in settings.items() if v}
    else:
        data["postback_url"] = form.text("postback_url", 4096) or None
    data["postback_events"] = split_list(form.text("postback_events"))
    data["postback_statuses"] = [s for s in STATUSES if form.get(f"status_{s}")]
    return data


def _source_values(source: TrafficSource) -> dict[str, Any]:
    return {
        "name": source.name,
        "template": source.template,
        "postback_url": source.postback_url or "",
        "postback_variant": "",
        "external_id_param": source.external_id_param,
        "cost_param": source.cost_param,
        "postback_events": ", ".join(source.postback_events),
        **{f"status_{s}": "on" for s in source.postback_statuses},
    }


def _new_source_values(template: Template) -> dict[str, Any]:
    variant = template.variant(None)
    side = template.source
    return {
        "template": template.name,
        "postback_variant": variant.name if variant else "",
        "external_id_param": side.click_param if side else "",
        "cost_param": (side.cost_param if side else None) or "cost",
        "status_approved": "on",
    }


def _source_page(
    request: Request, *, source: TrafficSource | None, values: dict[str, Any],
    errors: FieldErrors | None = None, status_code: int = 200, saved: str = "",
) -> HTMLResponse:  # fmt: skip
    template = registry.get(str(values.get("template") or registry.CUSTOM))
    variants = template.source.postbacks if template and template.source else []
    context = {
        "source": source,
        "values": values,
        "errors": errors or {},
        "template": template,
        "settings_names": _all_settings(template),
        "template_options": [(t.name, t.title) for t in source_templates()],
        "variant_options": [(v.name, v.title) for v in variants],
        "variants": variants,
        "statuses": STATUSES,
        "warnings": sources.url_warnings(source) if source and not errors else [],
        "saved": saved,
    }
    return render(request, "setup_source.html", context, status_code=status_code)


@router.get("/setup/traffic-sources/new", response_class=HTMLResponse)
def new_source(
    request: Request, user: UserDep, template: Annotated[str, Query(max_length=50)] = ""
) -> HTMLResponse:
    chosen = registry.get(template)
    if chosen is None or chosen.source is None:
        return pick_page(request, "traffic-sources", source_templates())
    return _source_page(request, source=None, values=_new_source_values(chosen))


@router.post("/setup/traffic-sources", response_class=HTMLResponse)
def create_source(
    request: Request, post: AdminPost, session: SessionDep, runtime: RuntimeDep
) -> Response:
    data = _source_fields(post.form)
    if data.get("postback_url") is None:
        data.pop("postback_url", None)
    try:
        source = attempt(
            session, lambda: sources.create(session, TrafficSourceCreate.model_validate(data))
        )
    except Refused as refused:
        values = dict(post.form)
        return _source_page(request, source=None, values=values, errors=refused.errors,
                            status_code=422)  # fmt: skip
    config_changed(session, runtime)
    return see_other(f"/setup/traffic-sources/{source.id}?saved=1")


@router.get("/setup/traffic-sources/{source_id}", response_class=HTMLResponse)
def source_page(
    request: Request, source_id: IdPath, user: UserDep, session: ReadSessionDep,
    saved: Saved = "",
) -> HTMLResponse:  # fmt: skip
    source = sources.get(session, source_id)
    values = _source_values(source)
    if not user.is_admin:
        # Viewers see where postbacks go, not the source's credentials in the URL.
        values["postback_url"] = sources.masked_postback_url(source) or ""
    return _source_page(request, source=source, values=values, saved=saved)


@router.post("/setup/traffic-sources/{source_id}", response_class=HTMLResponse)
def update_source(
    request: Request, source_id: IdPath, post: AdminPost, session: SessionDep,
    runtime: RuntimeDep,
) -> Response:  # fmt: skip
    data = _source_fields(post.form)
    try:
        attempt(
            session,
            lambda: sources.update(session, source_id, TrafficSourceUpdate.model_validate(data)),
        )
    except Refused as refused:
        source = sources.get(session, source_id)
        return _source_page(request, source=source, values=dict(post.form),
                            errors=refused.errors, status_code=422)  # fmt: skip
    config_changed(session, runtime)
    return see_other(f"/setup/traffic-sources/{source_id}?saved=1")


@router.post("/setup/traffic-sources/{source_id}/{action}")
def archive_source(
    source_id: IdPath, action: ArchiveAction, post: AdminPost, session: SessionDep,
    runtime: RuntimeDep,
) -> Response:  # fmt: skip
    sources.update(session, source_id, TrafficSourceUpdate(archived=action == "archive"))
    config_changed(session, runtime)
    return see_other(f"/setup/traffic-sources/{source_id}?saved={action}")
