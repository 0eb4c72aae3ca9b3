"""`/setup/offers` and `/setup/landers`: create, edit, archive, restore. The URL linter's
errors refuse the save and are shown under the URL field; its warnings are shown there after
the save."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from postback.dashboard.auth import AdminPost, UserDep
from postback.dashboard.forms import FormData
from postback.dashboard.render import render
from postback.dashboard.setup import ArchiveAction, Saved, see_other
from postback.dashboard.setup_forms import (
    MAX_LISTED,
    FieldErrors,
    Refused,
    attempt,
    blanks_as_none,
    given,
)
from postback.kit.deps import RuntimeDep
from postback.kit.money import format_micros
from postback.kit.pagination import IdPath
from postback.kit.session import ReadSessionDep, SessionDep, config_changed
from postback.landers import service as landers
from postback.landers.schemas import LanderCreate, LanderUpdate
from postback.models import Lander, Offer
from postback.networks import service as networks
from postback.offers import service as offers
from postback.offers.schemas import OfferCreate, OfferUpdate

router = APIRouter(include_in_schema=False)
_CLEARABLE = ("network_id", "daily_cap", "cap_fallback_offer_id")


def _offer_fields(form: FormData, *, editing: bool) -> dict[str, Any]:
    data: dict[str, Any] = given(form, ["payout", "currency", "cap_timezone"])
    data["name"] = form.text("name", 200)
    data["url"] = form.text("url", 4096)
    if editing:
        data.update(blanks_as_none(form, _CLEARABLE))
    else:
        data.update(given(form, _CLEARABLE))
    return data


def _offer_values(offer: Offer) -> dict[str, Any]:
    return {
        "name": offer.name,
        "url": offer.url,
        "network_id": str(offer.network_id or ""),
        "payout": format_micros(offer.payout_micros),
        "currency": offer.currency,
        "daily_cap": str(offer.daily_cap or ""),
        "cap_timezone": offer.cap_timezone,
        "cap_fallback_offer_id": str(offer.cap_fallback_offer_id or ""),
    }


def _offer_page(
    request: Request, session: Session, *, offer: Offer | None, values: dict[str, Any],
    errors: FieldErrors | None = None, status_code: int = 200, saved: str = "",
) -> HTMLResponse:  # fmt: skip
    listed = offers.list_offers(session, None, MAX_LISTED, True)
    current = offer or Offer()
    context = {
        "offer": offer,
        "values": values,
        "errors": errors or {},
        # Archived ones only when they are the current choice, so an edit does not drop it.
        "network_options": [
            (str(n.id), n.name + (" (archived)" if n.archived else ""))
            for n in networks.list_networks(session, None, MAX_LISTED, True)
            if not n.archived or n.id == current.network_id
        ],
        "fallback_options": [
            (str(o.id), o.name + (" (archived)" if o.archived else ""))
            for o in listed
            if o.id != current.id and (not o.archived or o.id == current.cap_fallback_offer_id)
        ],
        "warnings": offers.url_warnings(session, offer) if offer and not errors else [],
        "saved": saved,
    }
    return render(request, "setup_offer.html", context, status_code=status_code)


@router.get("/setup/offers/new", response_class=HTMLResponse)
def new_offer(request: Request, user: UserDep, session: ReadSessionDep) -> HTMLResponse:
    return _offer_page(request, session, offer=None, values={"cap_timezone": "UTC"})


@router.post("/setup/offers", response_class=HTMLResponse)
def create_offer(
    request: Request, post: AdminPost, session: SessionDep, runtime: RuntimeDep
) -> Response:
    data = _offer_fields(post.form, editing=False)
    try:
        offer = attempt(
            session,
            lambda: offers.create(session, OfferCreate.model_validate(data), runtime.settings),
        )
    except Refused as refused:
        return _offer_page(request, session, offer=None, values=dict(post.form),
                           errors=refused.errors, status_code=422)  # fmt: skip
    config_changed(session, runtime)
    return see_other(f"/setup/offers/{offer.id}?saved=1")


@router.get("/setup/offers/{offer_id}", response_class=HTMLResponse)
def offer_page(
    request: Request, offer_id: IdPath, user: UserDep, session: ReadSessionDep, saved: Saved = ""
) -> HTMLResponse:
    offer = offers.get(session, offer_id)
    return _offer_page(request, session, offer=offer, values=_offer_values(offer), saved=saved)


@router.post("/setup/offers/{offer_id}", response_class=HTMLResponse)
def update_offer(
    request: Request, offer_id: IdPath, post: AdminPost, session: SessionDep,
    runtime: RuntimeDep,
) -> Response:  # fmt: skip
    data = _offer_fields(post.form, editing=True)
    offer = offers.get(session, offer_id)
    for name in ("network_id", "cap_fallback_offer_id"):
        # An unchanged reference is not checked again (it may have been archived since).
        if data[name] == str(getattr(offer, name) or "") and data[name] is not None:
            del data[name]
    try:
        attempt(
            session,
            lambda: offers.update(
                session, offer_id, OfferUpdate.model_validate(data), runtime.settings
            ),
        )
    except Refused as refused:
        offer = offers.get(session, offer_id)
        return _offer_page(request, session, offer=offer, values=dict(post.form),
                           errors=refused.errors, status_code=422)  # fmt: skip
    config_changed(session, runtime)
    return see_other(f"/setup/offers/{offer_id}?saved=1")


@router.post("/setup/offers/{offer_id}/{action}")
def archive_offer(
    offer_id: IdPath, action: ArchiveAction, post: AdminPost, session: SessionDep,
    runtime: RuntimeDep,
) -> Response:  # fmt: skip
    offers.update(session, offer_id, OfferUpdate(archived=action == "archive"), runtime.settings)
    config_changed(session, runtime)
    return see_other(f"/setup/offers/{offer_id}?saved={action}")


# Landers ---------------------------------------------------------------------------------


def _lander_fields(form: FormData) -> dict[str, Any]:
    return {"name": form.text("name", 200), "url": form.text("url", 4096)}


def _lander_page(
    request: Request, *, lander: Lander | None, values: dict[str, Any],
    errors: FieldErrors | None = None, status_code: int = 200, saved: str = "",
) -> HTMLResponse:  # fmt: skip
    context = {
        "lander": lander,
        "values": values,
        "errors": errors or {},
        "warnings": landers.url_warnings(lander) if lander and not errors else [],
        "saved": saved,
    }
    return render(request, "setup_lander.html", context, status_code=status_code)


@router.get("/setup/landers/new", response_class=HTMLResponse)
def new_lander(request: Request, user: UserDep) -> HTMLResponse:
    return _lander_page(request, lander=None, values={})


@router.post("/setup/landers", response_class=HTMLResponse)
def create_lander(
    request: Request, post: AdminPost, session: SessionDep, runtime: RuntimeDep
) -> Response:
    data = _lander_fields(post.form)
    try:
        lander = attempt(
            session, lambda: landers.create(session, LanderCreate.model_validate(data))
        )
    except Refused as refused:
        return _lander_page(request, lander=None, values=dict(post.form), errors=refused.errors,
                            status_code=422)  # fmt: skip
    config_changed(session, runtime)
    return see_other(f"/setup/landers/{lander.id}?saved=1")


@router.get("/setup/landers/{lander_id}", response_class=HTMLResponse)
def lander_page(
    request: Request, lander_id: IdPath, user: UserDep, session: ReadSessionDep, saved: Saved = ""
) -> HTMLResponse:
    lander = landers.get(session, lander_id)
    values = {"name": lander.name, "url": lander.url}
    return _lander_page(request, lander=lander, values=values, saved=saved)


@router.post("/setup/landers/{lander_id}", response_class=HTMLResponse)
def update_lander(
    request: Request, lander_id: IdPath, post: AdminPost, session: SessionDep,
    runtime: RuntimeDep,
) -> Response:  # fmt: skip
    data = _lander_fields(post.form)
    try:
        attempt(
            session, lambda: landers.update(session, lander_id, LanderUpdate.model_validate(data))
        )
    except Refused as refused:
        lander = landers.get(session, lander_id)
        return _lander_page(request, lander=lander, values=dict(post.form),
                            errors=refused.errors, status_code=422)  # fmt: skip
    config_changed(session, runtime)
    return see_other(f"/setup/landers/{lander_id}?saved=1")


@router.post("/setup/landers/{lander_id}/{action}")
def archive_lander(
    lander_id: IdPath, action: ArchiveAction, post: AdminPost, session: SessionDep,
    runtime: RuntimeDep,
) -> Response:  # fmt: skip
    landers.update(session, lander_id, LanderUpdate(archived=action == "archive"))
    config_changed(session, runtime)
    return see_other(f"/setup/landers/{lander_id}?saved={action}")
