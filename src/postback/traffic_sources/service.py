"""Traffic sources: where clicks come from and where their outbound postbacks go."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from postback.kit.errors import NotFound
from postback.models import TrafficSource
from postback.traffic_sources import repository
from postback.traffic_sources.schemas import TrafficSourceCreate, TrafficSourceUpdate


def create(session: Session, body: TrafficSourceCreate) -> TrafficSource:
    return repository.add(session, TrafficSource(**body.model_dump()))


def get(session: Session, source_id: int) -> TrafficSource:
    source = repository.get(session, source_id)
    if source is None:
        raise NotFound(f"traffic source {source_id} does not exist")
    return source


def list_sources(
    session: Session, after: int | None, limit: int, include_archived: bool
) -> Sequence[TrafficSource]:
    return repository.list_after(session, after, limit, include_archived=include_archived)


def update(session: Session, source_id: int, body: TrafficSourceUpdate) -> TrafficSource:
    source = get(session, source_id)
    changes = body.changes()
    for name, value in changes.items():
        setattr(source, name, value)
    if any(name.startswith("postback_") for name in changes):
        # Editing the postback is how a user says "try this destination again".
        source.postback_disabled_at = None
        source.postback_disabled_reason = None
        source.postback_failing_since = None
    session.flush()
    return source


def archive(session: Session, source_id: int) -> TrafficSource:
    return update(session, source_id, TrafficSourceUpdate(archived=True))
