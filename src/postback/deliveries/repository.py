"""All SQL of outbound deliveries: claim with a lease, record attempts, list, replay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from postback.deliveries.schemas import DeliveryFilters
from postback.models import Delivery, DeliveryAttempt, TrafficSource, UtcDateTime


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    url: str
    attempts: int  # attempts made before this one
    traffic_source_id: int
    signing_secret: str | None
    method: str
    body: str | None
    lease_until: datetime
    template: str | None = None  # the source's URL template: what to mask in the attempt log


def _due(now: datetime) -> Any:
    return or_(
        and_(Delivery.state == "pending", Delivery.next_attempt_at <= now),
        # A worker that died (or was killed) mid-delivery leaves a lease that runs out.
        and_(Delivery.state == "delivering", Delivery.lease_expires_at < now),
    )


def claim(
    conn: Connection, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[Claimed]:
    """Atomically lease up to `limit` due deliveries to `owner`.

    PostgreSQL: FOR UPDATE SKIP LOCKED lets concurrent workers take disjoint rows. SQLite: the
    transaction began with BEGIN IMMEDIATE, so claimers run one at a time.
    """
    active_sources = select(TrafficSource.id).where(TrafficSource.postback_disabled_at.is_(None))
    due_ids = (
        select(Delivery.id)
        .where(_due(now), Delivery.traffic_source_id.in_(active_sources))
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(conn.execute(due_ids).scalars())
    if not ids:
        return []
    conn.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), _due(now))
        .values(state="delivering", lease_owner=owner, lease_expires_at=lease_until)
    )
    rows = conn.execute(
        select(
            Delivery.id,
            Delivery.url,
            Delivery.attempts,
            Delivery.traffic_source_id,
            TrafficSource.postback_signing_secret,
            Delivery.method,
            Delivery.body,
            TrafficSource.postback_url,
        )
        .join(TrafficSource, TrafficSource.id == Delivery.traffic_source_id)
        .where(Delivery.id.in_(ids), Delivery.lease_owner == owner)
    ).all()
    return [
        Claimed(
            r.id,
            r.url,
            r.attempts,
            r.traffic_source_id,
            r.postback_signing_secret,
            r.method,
            r.body,
            lease_until,
            r.postback_url,
        )
        for r in rows
    ]


def release(conn: Connection, delivery_ids: list[str], owner: str) -> None:
    """Give claimed deliveries back, unsent and due at once."""
    if delivery_ids:
        conn.execute(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids), Delivery.lease_owner == owner)
            .values(state="pending", lease_owner=None, lease_expires_at=None)
        )


def insert_attempts(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        # The table, not the ORM class: an ORM bulk insert costs several times more per row.
        conn.execute(insert(DeliveryAttempt.__table__), rows)  # type: ignore[arg-type]


_FINISH = (
    update(Delivery)
    .where(
        Delivery.id == bindparam("b_id"),
        Delivery.lease_owner == bindparam("b_owner"),
        Delivery.state == "delivering",
    )
    .values(
        state=bindparam("b_state"),
        attempts=bindparam("b_attempts"),
        last_status_code=bindparam("b_code"),
        last_error=bindparam("b_error"),
        next_attempt_at=func.coalesce(
            bindparam("b_next", type_=UtcDateTime()), Delivery.next_attempt_at
        ),
        finished_at=bindparam("b_finished", type_=UtcDateTime()),
        lease_owner=None,
        lease_expires_at=None,
    )
)


def finish(conn: Connection, rows: list[dict[str, Any]], owner: str) -> int:
    """Store attempt results (one executemany), only where this worker still holds the
    lease: a result that comes back after its lease ran out must not overwrite the state
    that another worker has since written. Returns how many rows were updated."""
    if not rows:
        return 0
    result = conn.execute(_FINISH, [{**row, "b_owner": owner} for row in rows])
    return int(result.rowcount or 0)


def mark_source_success(conn: Connection, source_ids: set[int]) -> None:
    if source_ids:
        conn.execute(
            update(TrafficSource)
            .where(
                TrafficSource.id.in_(source_ids), TrafficSource.postback_failing_since.isnot(None)
            )
            .values(postback_failing_since=None)
        )


def mark_source_failing(conn: Connection, source_ids: set[int], now: datetime) -> None:
    if source_ids:
        conn.execute(
            update(TrafficSource)
            .where(TrafficSource.id.in_(source_ids), TrafficSource.postback_failing_since.is_(None))
            .values(postback_failing_since=now)
        )


def pause_failing_sources(conn: Connection, failing_before: datetime, now: datetime) -> int:
    result = conn.execute(
        update(TrafficSource)
        .where(
            TrafficSource.postback_failing_since < failing_before,
            TrafficSource.postback_disabled_at.is_(None),
        )
        .values(postback_disabled_at=now, postback_disabled_reason="failing for days: paused")
    )
    return int(result.rowcount or 0)


def disable_source(conn: Connection, source_id: int, now: datetime, reason: str) -> None:
    conn.execute(
        update(TrafficSource)
        .where(TrafficSource.id == source_id)
        .values(postback_disabled_at=now, postback_disabled_reason=reason)
    )


def replay(conn: Connection, conditions: list[Any], now: datetime) -> int:
    """Put finished deliveries back in the queue, due now, with a fresh attempt budget.

    Replaying is how a user says "the receiver is fixed", so the destinations of the replayed
    deliveries are enabled again (a 410 or a long outage had disabled them)."""
    conditions = [Delivery.state.in_(("dead", "disabled", "delivered", "pending")), *conditions]
    enable_sources(conn, source_ids_of(conn, conditions))
    result = conn.execute(
        update(Delivery)
        .where(*conditions)
        .values(state="pending", attempts=0, next_attempt_at=now, finished_at=None)
    )
    return int(result.rowcount or 0)


def replay_filters(
    delivery_id: str | None,
    state: str | None,
    source_id: int | None,
    start: datetime | None,
    end: datetime | None,
) -> list[Any]:
    conditions = _filters(state, source_id, start, end)
    if delivery_id is not None:
        conditions.append(Delivery.id == delivery_id)
    return conditions


def list_deliveries(
    session: Session, f: DeliveryFilters, before: str | None, limit: int
) -> Sequence[Delivery]:
    """Newest first, by id (a ULID, so id order is queue order)."""
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    query = query.where(*_filters(f.state, f.traffic_source_id, f.from_, f.to))
    if f.conversion_id:
        query = query.where(Delivery.conversion_id == f.conversion_id.upper())
    if before is not None:
        query = query.where(Delivery.id < before)
    return session.scalars(query).all()


def _filters(
    state: str | None, source_id: int | None, start: datetime | None, end: datetime | None
) -> list[Any]:
    conditions: list[Any] = []
    if state is not None:
        conditions.append(Delivery.state == state)
    if source_id is not None:
        conditions.append(Delivery.traffic_source_id == source_id)
    if start is not None:
        conditions.append(Delivery.created_at >= start)
    if end is not None:
        conditions.append(Delivery.created_at < end)
    return conditions


def get_delivery(session: Session, delivery_id: str) -> Delivery | None:
    return session.get(Delivery, delivery_id)


def list_attempts(session: Session, delivery_id: str) -> Sequence[DeliveryAttempt]:
    return session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id == delivery_id)
        .order_by(DeliveryAttempt.id)
    ).all()


def source_secrets(session: Session, source_ids: set[int]) -> dict[int, tuple[Any, Any]]:
    """Each source's URL template and signing secret: what its deliveries are masked of."""
    if not source_ids:
        return {}
    rows = session.execute(
        select(
            TrafficSource.id, TrafficSource.postback_url, TrafficSource.postback_signing_secret
        ).where(TrafficSource.id.in_(source_ids))
    )
    return {r.id: (r.postback_url, r.postback_signing_secret) for r in rows}


def source_ids_of(conn: Connection, conditions: list[Any]) -> set[int]:
    return set(
        conn.execute(select(Delivery.traffic_source_id).where(*conditions).distinct()).scalars()
    )


def enable_sources(conn: Connection, source_ids: set[int]) -> None:
    if source_ids:
        conn.execute(
            update(TrafficSource)
            .where(TrafficSource.id.in_(source_ids))
            .values(
                postback_disabled_at=None,
                postback_disabled_reason=None,
                postback_failing_since=None,
            )
        )
