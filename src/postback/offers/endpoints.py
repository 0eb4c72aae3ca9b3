"""`/api/v1/offers`: create, read, list, update, archive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from postback.api_keys.auth import REQUIRE_API_KEY
from postback.kit.deps import RuntimeDep
from postback.kit.fields import MAX_ROW_ID
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
from postback.models import Offer
from postback.offers import service
from postback.offers.schemas import OfferCreate, OfferOut, OfferUpdate

router = APIRouter(prefix="/offers", tags=["offers"], dependencies=REQUIRE_API_KEY)


def _out(session: Session, offer: Offer) -> OfferOut:
    out = OfferOut.model_validate(offer)
    out.warnings = service.url_warnings(session, offer)
    return out


@router.get("", response_model=Page[OfferOut])
def list_offers(
    session: ReadSessionDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    include_archived: bool = False,
    network_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Page[OfferOut]:
    rows = service.list_offers(session, int_cursor(cursor), limit + 1, include_archived, network_id)
    return page_of(rows, limit, lambda o: _out(session, o), lambda o: o.id)


@router.post("", status_code=201, response_model=OfferOut)
def create_offer(body: OfferCreate, session: SessionDep, runtime: RuntimeDep) -> OfferOut:
    offer = service.create(session, body, runtime.settings)
    config_changed(session, runtime)
    return _out(session, offer)


@router.get("/{offer_id}", response_model=OfferOut)
def get_offer(offer_id: IdPath, session: ReadSessionDep) -> OfferOut:
    return _out(session, service.get(session, offer_id))


@router.patch("/{offer_id}", response_model=OfferOut)
def update_offer(
    offer_id: IdPath, body: OfferUpdate, session: SessionDep, runtime: RuntimeDep
) -> OfferOut:
    offer = service.update(session, offer_id, body, runtime.settings)
    config_changed(session, runtime)
    return _out(session, offer)


@router.delete("/{offer_id}", response_model=OfferOut)
def archive_offer(offer_id: IdPath, session: SessionDep, runtime: RuntimeDep) -> OfferOut:
    offer = service.archive(session, offer_id, runtime.settings)
    config_changed(session, runtime)
    return _out(session, offer)
