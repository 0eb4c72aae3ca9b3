"""`/setup/networks`: affiliate networks and trackers that send us postbacks — create from a
template, edit, archive, restore — with the postback URL to paste into the network.

A new network gets a generated secret token unless the form's "no secret token" box is ticked;
a network without one is shown with a warning. Viewers see the network but not its secret:
the URL they see leaves the token out.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from postback.dashboard.auth import AdminPost, UserDep
from postback.dashboard.forms import FormData
from postback.dashboard.render import render
from postback.dashboard.setup import (
    ArchiveAction,
    Saved,
    network_templates,
    pick_page,
    see_other,
)
from postback.dashboard.setup_forms import FieldErrors, Refused, attempt, given, split_list
from postback.kit.deps import RuntimeDep
from postback.kit.pagination import IdPath
from postback.kit.session import ReadSessionDep, SessionDep, config_changed
from postback.models import Network
from postback.networks import service as networks
from postback.networks.schemas import NetworkCreate, NetworkUpdate
from postback.templates import registry

router = APIRouter(include_in_schema=False)
DUPLICATE_MODES = ("ignore", "new_per_txid", "update", "accumulate")


def _fields(form: FormData, *, editing: bool) -> dict[str, Any]:
    data: dict[str, Any] = given(form, ["template", "currency", "lookback_days", "duplicate_mode"])
    data["name"] = form.text("name", 200)  # blank is refused, not read as "unchanged"
    secret = form.text("secret", 200)
    if secret or editing:
        # On the edit page the secret is shown in the field, so clearing it removes it.
        data["secret"] = secret or None
    elif form.text("no_secret", 10):
        data["no_secret"] = True  # else a blank secret on the new-network form is generated
    data["allowed_ips"] = split_list(form.text("allowed_ips", 4000))
    return data


def _values(network: Network) -> dict[str, Any]:
    return {
        "name": network.name,
        "template": network.template,
        "secret": network.secret or "",
        "allowed_ips": ", ".join(network.allowed_ips),
        "currency": network.currency,
        "lookback_days": str(network.lookback_days),
        "duplicate_mode": network.duplicate_mode,
    }


def _page(
    request: Request, runtime: RuntimeDep, *, network: Network | None, values: dict[str, Any],
    errors: FieldErrors | None = None, status_code: int = 200, saved: str = "",
) -> HTMLResponse:  # fmt: skip
    user = request.state.user
    template = registry.get(str(values.get("template") or registry.CUSTOM))
    url = (
        networks.postback_url(runtime.settings.public_url, network, with_secret=user.is_admin)
        if network is not None
        else None
    )
    if network is not None and not user.is_admin:
        values = {**values, "secret": networks.mask_secret(network.secret) or ""}
    context = {
        "network": network,
        "values": values,
        "errors": errors or {},
        "template": template,
        "template_options": [(t.name, t.title) for t in network_templates()],
        "mode_options": [(m, m.replace("_", " ")) for m in DUPLICATE_MODES],
        "postback_url": url,
        "saved": saved,
        "warnings": networks.warnings(network) if network is not None else [],
    }
    return render(request, "setup_network.html", context, status_code=status_code)


@router.get("/setup/networks/new", response_class=HTMLResponse)
def new_network(
    request: Request, user: UserDep, runtime: RuntimeDep,
    template: Annotated[str, Query(max_length=50)] = "",
) -> HTMLResponse:  # fmt: skip
    chosen = registry.get(template)
    if chosen is None or chosen.network is None:
        return pick_page(request, "networks", network_templates())
    values = {"template": chosen.name, "currency": runtime.settings.account_currency}
    return _page(request, runtime, network=None, values=values)


@router.post("/setup/networks", response_class=HTMLResponse)
def create_network(
    request: Request, post: AdminPost, session: SessionDep, runtime: RuntimeDep
) -> Response:
    data = _fields(post.form, editing=False)
    try:
        network = attempt(
            session,
            lambda: networks.create(session, NetworkCreate.model_validate(data), runtime.settings),
        )
    except Refused as refused:
        return _page(request, runtime, network=None, values=dict(post.form),
                     errors=refused.errors, status_code=422)  # fmt: skip
    config_changed(session, runtime)
    return see_other(f"/setup/networks/{network.id}?saved=1")


@router.get("/setup/networks/{network_id}", response_class=HTMLResponse)
def network_page(
    request: Request, network_id: IdPath, user: UserDep, session: ReadSessionDep,
    runtime: RuntimeDep, saved: Saved = "",
) -> HTMLResponse:  # fmt: skip
    network = networks.get(session, network_id)
    return _page(request, runtime, network=network, values=_values(network), saved=saved)


@router.post("/setup/networks/{network_id}", response_class=HTMLResponse)
def update_network(
    request: Request, network_id: IdPath, post: AdminPost, session: SessionDep,
    runtime: RuntimeDep,
) -> Response:  # fmt: skip
    data = _fields(post.form, editing=True)
    try:
        attempt(
            session,
            lambda: networks.update(
                session, network_id, NetworkUpdate.model_validate(data), runtime.settings
            ),
        )
    except Refused as refused:
        network = networks.get(session, network_id)
        return _page(request, runtime, network=network, values=dict(post.form),
                     errors=refused.errors, status_code=422)  # fmt: skip
    config_changed(session, runtime)
    return see_other(f"/setup/networks/{network_id}?saved=1")


@router.post("/setup/networks/{network_id}/{action}")
def archive_network(
    network_id: IdPath, action: ArchiveAction, post: AdminPost, session: SessionDep,
    runtime: RuntimeDep,
) -> Response:  # fmt: skip
    body = NetworkUpdate(archived=action == "archive")
    networks.update(session, network_id, body, runtime.settings)
    config_changed(session, runtime)
    return see_other(f"/setup/networks/{network_id}?saved={action}")
