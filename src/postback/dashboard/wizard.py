"""`/wizard`: the integration wizard, the eight steps of an ad network's S2S set-up guide.

1 pick the tracker or network, 2 the postback type, 3 the generated postback URL, 4 where to
paste it, 5 which parameter carries the click ID, 6 the offer to test, 7 the offer-URL check,
8 a test conversion whose status goes PENDING -> VALID (or INVALID with the reason code).

The wizard's whole state is in the query string (`WizardState`), so any step can be reloaded
or bookmarked; forms carry it on in hidden fields. The checks and the test conversion are the
integrations service's, exactly what `/api/v1/integrations` does.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from postback.campaigns import routing
from postback.campaigns import service as campaigns
from postback.dashboard.auth import AdminPost, Post, UserDep
from postback.dashboard.render import render
from postback.dashboard.setup import network_templates, see_other
from postback.dashboard.setup_forms import MAX_LISTED, Refused, attempt
from postback.integrations import service as integrations
from postback.integrations.schemas import OfferUrlCheck, TestConversionCreate
from postback.kit.deps import RuntimeDep
from postback.kit.errors import BadRequest, NotFound, PostbackError
from postback.kit.fields import MAX_ROW_ID, is_digits
from postback.kit.session import ReadSessionDep, SessionDep, config_changed
from postback.models import Network, Offer
from postback.networks import service as networks
from postback.networks.schemas import NetworkCreate
from postback.offers import service as offers
from postback.offers.schemas import OfferUpdate
from postback.runtime import Runtime
from postback.templates import generators, registry
from postback.templates.schemas import Template

router = APIRouter(include_in_schema=False)
PostbackType = Literal["simple", "payout", "currency", "full"]
# Adsterra's three kinds of postback, and everything the system can send.
TYPES: dict[str, tuple[str, frozenset[str] | None]] = {
    "simple": ("Simple: the click ID only", frozenset({"clickid"})),
    "payout": ("With the payout", frozenset({"clickid", "payout"})),
    "currency": ("With the payout and its currency", frozenset({"clickid", "payout", "currency"})),
    "full": ("Everything it can send (payout, status, event, transaction ID...)", None),
}
_TARGET = re.compile(r"^\d{1,10}:\d{1,10}$")


@dataclass(frozen=True)
class WizardState:
    template: str = ""
    type: str = "full"
    network: int | None = None
    target: str = ""  # "<campaign id>:<offer id>"
    url: str = ""
    click: str = ""

    def query(self, **changes: Any) -> str:
        state = replace(self, **changes)
        return "/wizard?" + urlencode({k: v for k, v in asdict(state).items() if v})

    def hidden(self, *leave_out: str) -> list[tuple[str, str]]:
        return [(k, str(v)) for k, v in asdict(self).items() if v and k not in leave_out]

    def ids(self) -> tuple[int, int] | None:
        if not _TARGET.match(self.target):
            return None
        campaign_id, offer_id = (int(part) for part in self.target.split(":"))
        return (campaign_id, offer_id) if 0 < max(campaign_id, offer_id) <= MAX_ROW_ID else None


def read_state(
    template: Annotated[str, Query(max_length=50)] = "",
    type: Annotated[PostbackType, Query()] = "full",
    network: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    target: Annotated[str, Query(max_length=30)] = "",
    url: Annotated[str, Query(max_length=2048)] = "",
    click: Annotated[str, Query(max_length=64)] = "",
) -> WizardState:
    return WizardState(template, type, network, target, url.strip(), click.strip().upper())


def form_state(post: Post) -> WizardState:
    """The same state from a POST's hidden fields, with the same limits."""
    form = post.form
    network = form.text("network", 10)
    network_id = int(network) if is_digits(network) else None
    try:
        return read_state(
            form.text("template", 50), _type(form.text("type", 10) or "full"),
            network_id if network_id and network_id <= MAX_ROW_ID else None,
            form.text("target", 30), form.text("url", 2048), form.text("click", 64),
        )  # fmt: skip
    except ValueError:
        raise BadRequest("the wizard's state in this form is not valid") from None


def _type(value: str) -> PostbackType:
    if value not in TYPES:
        raise ValueError(value)
    return value  # type: ignore[return-value]


StateDep = Annotated[WizardState, Depends(read_state)]


def _network(session: Session, state: WizardState) -> Network | None:
    if state.network is None:
        return None
    try:
        network = networks.get(session, state.network)
    except NotFound:
        return None
    return network if network.template == state.template else None


def _targets(session: Session, network: Network) -> list[tuple[str, str]]:
    """Every (campaign, offer) pair whose offer is on this network: "cid:oid" and a label."""
    names = {
        o.id: o.name
        for o in offers.list_offers(session, None, MAX_LISTED, False, network_id=network.id)
    }
    found = []
    for view in campaigns.list_campaigns(session, None, MAX_LISTED, False):
        for offer_id in routing.offer_ids(view.campaign.paths):
            if offer_id in names:
                label = f"{view.campaign.name} · {names[offer_id]}"
                found.append((f"{view.campaign.id}:{offer_id}", label))
    return found


def _tokens(template: Template) -> dict[str, str]:
    side = template.network
    assert side is not None
    back = next((p for p, _ in side.postback.items() if side.canonical(p) == "clickid"), "")
    return {
        "offer_param": side.offer_param,
        "postback_param": back,
        "postback_macro": side.postback.get(back, ""),
        "receiver_param": back if side.canonical(back) == back else f"{back} (read as clickid)",
    }


def _offer(session: Session, state: WizardState, network: Network | None) -> Offer | None:
    ids = state.ids()
    if ids is None or network is None:
        return None
    try:
        offer = offers.get(session, ids[1])
    except NotFound:
        return None
    return offer if offer.network_id == network.id else None


def _test(session: Session, state: WizardState) -> dict[str, Any] | None:
    if not state.click:
        return None
    try:
        status = integrations.status(session, state.click)
    except PostbackError as exc:
        return {"status": None, "error": exc.detail, "redirect_url": None}
    redirect = integrations.redirect_url(session, status.clickid)
    return {"status": status, "error": None, "redirect_url": redirect}


def wizard_context(
    session: Session, runtime: Runtime, state: WizardState, admin: bool
) -> dict[str, Any]:
    template = registry.get(state.template)
    if template is None or template.network is None:
        template, state = None, WizardState()
    network = _network(session, state)
    offer = _offer(session, state, network)
    url = state.url or (offer.url if offer else "")
    verdict = (
        integrations.check_offer_url(session, OfferUrlCheck(url=url, network_id=network.id))
        if network is not None and offer is not None and url
        else None
    )
    postback_url = None
    if network is not None and template is not None:
        postback_url = generators.network_postback_url(
            runtime.settings.public_url, network.key, template,
            network.secret if admin else None, fields=TYPES[state.type][1],
        )  # fmt: skip
    with_template = [
        n
        for n in networks.list_networks(session, None, MAX_LISTED, False)
        if template is not None and n.template == template.name
    ]
    return {
        "state": state,
        "templates": network_templates(),
        "template": template,
        "types": TYPES,
        "networks": with_template,
        "network": network,
        "postback_url": postback_url,
        "tokens": _tokens(template) if template else None,
        "targets": _targets(session, network) if network else [],
        "offer": offer,
        "url": url,
        "verdict": verdict,
        "test": _test(session, state) if offer else None,
    }


@router.get("/wizard", response_class=HTMLResponse)
def wizard_page(
    request: Request, user: UserDep, state: StateDep, session: ReadSessionDep,
    runtime: RuntimeDep,
) -> HTMLResponse:  # fmt: skip
    context = wizard_context(session, runtime, state, user.is_admin)
    return render(request, "wizard.html", context)


@router.get("/wizard/status/{clickid}", response_class=HTMLResponse)
def wizard_status(
    request: Request, user: UserDep, session: ReadSessionDep, state: StateDep,
    clickid: Annotated[str, Path(max_length=64)],
) -> HTMLResponse:  # fmt: skip
    """The status panel alone, for the page's script to refresh in place."""
    state = replace(state, click=clickid.upper())
    return render(request, "wizard_status.html", {"state": state, "test": _test(session, state)})


@router.post("/wizard/networks", response_class=HTMLResponse)
def create_network(
    request: Request, post: AdminPost, session: SessionDep, runtime: RuntimeDep
) -> Response:
    state = form_state(post)
    body = {"name": post.form.text("name", 200), "template": state.template or "custom"}
    try:
        network = attempt(
            session,
            lambda: networks.create(session, NetworkCreate.model_validate(body), runtime.settings),
        )
    except Refused as refused:
        context = wizard_context(session, runtime, state, True)
        context["network_errors"] = refused.errors
        return render(request, "wizard.html", context, status_code=422)
    config_changed(session, runtime)
    return see_other(state.query(network=network.id))


@router.post("/wizard/offer-url", response_class=HTMLResponse)
def save_offer_url(
    request: Request, post: AdminPost, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Save the checked URL to the offer being tested."""
    state = form_state(post)
    ids = state.ids()
    if ids is None:
        raise BadRequest("pick the offer to test first")
    body = {"url": state.url}
    try:
        attempt(
            session,
            lambda: offers.update(
                session, ids[1], OfferUpdate.model_validate(body), runtime.settings
            ),
        )
    except Refused as refused:
        context = wizard_context(session, runtime, state, True)
        context["url_errors"] = refused.errors
        return render(request, "wizard.html", context, status_code=422)
    config_changed(session, runtime)
    return see_other(state.query(url="", click=""))


@router.post("/wizard/test-conversion", response_class=HTMLResponse)
async def make_test_conversion(request: Request, post: AdminPost, runtime: RuntimeDep) -> Response:
    """Step 8: a flagged test click; the page then shows its redirect URL and its status."""
    state = form_state(post)
    ids = state.ids()
    if ids is None:
        raise BadRequest("pick the campaign and offer to test first")
    body = TestConversionCreate(campaign_id=ids[0], offer_id=ids[1])
    try:
        made = await integrations.make_test_conversion(runtime, body)
    except PostbackError as exc:
        # A paused campaign, a capped offer: said on the page, next to the button.
        return await run_in_threadpool(_refused_test, request, runtime, state, exc.detail)
    return see_other(state.query(click=made.clickid) + "#step-8")


def _refused_test(request: Request, runtime: Runtime, state: WizardState, why: str) -> Response:
    with Session(runtime.db.reader) as session:
        context = wizard_context(session, runtime, replace(state, click=""), True)
    context["test_error"] = why
    return render(request, "wizard.html", context, status_code=409)
