"""`/api/v1/deliveries`: outbound postbacks, their attempts, and replay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from postback.api_keys.auth import REQUIRE_API_KEY
from postback.deliveries import service
from postback.deliveries.schemas import (
    DeliveryDetail,
    DeliveryFilters,
    DeliveryOut,
    Replayed,
    ReplayRequest,
)
from postback.kit.pagination import Page, page_of, ulid_cursor
from postback.kit.session import ReadSessionDep, SessionDep

router = APIRouter(prefix="/deliveries", tags=["deliveries"], dependencies=REQUIRE_API_KEY)
DeliveryId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("", response_model=Page[DeliveryOut])
def list_deliveries(
    filters: Annotated[DeliveryFilters, Query()], session: ReadSessionDep
) -> Page[DeliveryOut]:
    rows = service.list_deliveries(session, filters, ulid_cursor(filters.cursor), filters.limit + 1)
    return page_of(rows, filters.limit, DeliveryOut.model_validate, lambda d: d.id)


@router.get("/{delivery_id}", response_model=DeliveryDetail)
def get_delivery(delivery_id: DeliveryId, session: ReadSessionDep) -> DeliveryDetail:
    return service.get_delivery(session, delivery_id)


@router.post("/{delivery_id}/replay", response_model=Replayed)
def replay_delivery(delivery_id: DeliveryId, session: SessionDep) -> Replayed:
    """Send one delivery again, now, whatever state it ended in."""
    return Replayed(replayed=service.replay_one(session, delivery_id))


@router.post("/replay", response_model=Replayed)
def replay_deliveries(request: ReplayRequest, session: SessionDep) -> Replayed:
    """Send a filtered set again, e.g. every dead letter of one source in a time range."""
    return Replayed(replayed=service.replay_many(session, request))
