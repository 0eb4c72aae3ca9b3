"""Delivery rules for the admin API: read, and send again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from postback.deliveries import repository
from postback.deliveries.schemas import AttemptOut, DeliveryDetail, DeliveryFilters, ReplayRequest
from postback.kit.errors import NotFound
from postback.kit.ids import looks_like_click_id
from postback.models import Delivery


def list_deliveries(
    session: Session, filters: DeliveryFilters, before: str | None, limit: int
) -> Sequence[Delivery]:
    return repository.list_deliveries(session, filters, before, limit)


def get_delivery(session: Session, delivery_id: str) -> DeliveryDetail:
    delivery = _find(session, delivery_id)
    detail = DeliveryDetail.model_validate(delivery)
    detail.attempt_log = [
        AttemptOut.model_validate(a) for a in repository.list_attempts(session, delivery.id)
    ]
    return detail


def replay_one(session: Session, delivery_id: str) -> int:
    delivery = _find(session, delivery_id)
    conditions = repository.replay_filters(delivery.id, None, None, None, None)
    return repository.replay(session.connection(), conditions, datetime.now(UTC))


def replay_many(session: Session, request: ReplayRequest) -> int:
    conditions = repository.replay_filters(
        None, request.state, request.traffic_source_id, request.from_, request.to
    )
    return repository.replay(session.connection(), conditions, datetime.now(UTC))


def _find(session: Session, delivery_id: str) -> Delivery:
    found = (
        repository.get_delivery(session, delivery_id.upper())
        if looks_like_click_id(delivery_id)
        else None
    )
    if found is None:
        raise NotFound(f"delivery {delivery_id!r} does not exist")
    return found
