"""Delivery rules for the admin API: read, and send again.

A delivery's URL keeps the traffic source's credentials (they must be sent); every copy read
here for showing (API, pages, CLI) is masked first (kit/masking.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from postback.deliveries import repository
from postback.deliveries.schemas import AttemptOut, DeliveryDetail, DeliveryFilters, ReplayRequest
from postback.kit.errors import NotFound
from postback.kit.ids import looks_like_click_id
from postback.kit.masking import Masker, source_masker
from postback.models import Delivery, DeliveryAttempt


def list_deliveries(
    session: Session, filters: DeliveryFilters, before: str | None, limit: int
) -> list[DeliveryDetail]:
    """Masked, without their attempt logs."""
    return shown(session, repository.list_deliveries(session, filters, before, limit), [])


def get_delivery(session: Session, delivery_id: str) -> DeliveryDetail:
    delivery = _find(session, delivery_id)
    [detail] = shown(session, [delivery], repository.list_attempts(session, delivery.id))
    return detail


def shown(
    session: Session, rows: Sequence[Delivery], attempts: Iterable[DeliveryAttempt]
) -> list[DeliveryDetail]:
    """Deliveries as they may be shown: with their attempts, every URL, body, error and
    response masked of their traffic source's credentials. One query for all the sources."""
    maskers = _maskers(session, {d.traffic_source_id for d in rows})
    by_delivery: dict[str, list[DeliveryAttempt]] = defaultdict(list)
    for attempt in attempts:
        by_delivery[attempt.delivery_id].append(attempt)
    out = []
    for row in rows:
        mask = maskers.get(row.traffic_source_id, source_masker(None, None))
        detail = DeliveryDetail.model_validate(row)
        detail.url = mask.text(detail.url) or ""
        detail.body = mask.text(detail.body)
        detail.last_error = mask.text(detail.last_error)
        detail.attempt_log = [_attempt(a, mask) for a in by_delivery[row.id]]
        out.append(detail)
    return out


def _attempt(attempt: DeliveryAttempt, mask: Masker) -> AttemptOut:
    out = AttemptOut.model_validate(attempt)
    out.url = mask.text(out.url) or ""
    out.error = mask.text(out.error)
    out.response_snippet = mask.text(out.response_snippet)
    return out


def _maskers(session: Session, source_ids: set[int]) -> dict[int, Masker]:
    found = repository.source_secrets(session, source_ids)
    return {sid: source_masker(url, signing) for sid, (url, signing) in found.items()}


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
