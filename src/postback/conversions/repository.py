"""All SQL of the inbound postback pipeline. Every function takes the writer's connection.

Statements are built once, with bound parameters, and executed with values: building one per
call (`.values(row)`, `.where(col == value)`) made SQLAlchemy coerce every value and compute a
fresh cache key each time, which cost more than the database work itself.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from postback.conversions.records import ClickRecord, NetworkConfig
from postback.kit.writer import insert_later
from postback.models import (
    Base,
    Click,
    Conversion,
    Network,
    Offer,
    TrafficSource,
)

_TABLES = Base.metadata.tables
_NETWORK_COLUMNS = (
    Network.id,
    Network.key,
    Network.secret,
    Network.signing_secret,
    Network.allowed_ips,
    Network.currency,
    Network.lookback_days,
    Network.duplicate_mode,
    Network.duplicate_modes,
    Network.aliases,
    Network.status_map,
)


_NETWORK_BY_KEY = select(*_NETWORK_COLUMNS).where(
    Network.key == bindparam("key"), Network.archived.is_(False)
)
_NETWORK_BY_ID = select(*_NETWORK_COLUMNS).where(Network.id == bindparam("id"))


def load_network_by_key(conn: Connection, key: str) -> NetworkConfig | None:
    row = conn.execute(_NETWORK_BY_KEY, {"key": key}).one_or_none()
    return NetworkConfig.from_row(row) if row else None


def load_network_by_id(conn: Connection, network_id: int) -> NetworkConfig | None:
    row = conn.execute(_NETWORK_BY_ID, {"id": network_id}).one_or_none()
    return NetworkConfig.from_row(row) if row else None


_CLICK = (
    select(
        Click.id,
        Click.created_at,
        Click.campaign_id,
        Click.offer_id,
        Click.traffic_source_id,
        Click.external_id,
        Click.tokens,
        Click.is_test,
        Offer.network_id,
        Offer.payout_micros,
        Offer.currency,
        TrafficSource.postback_url,
        TrafficSource.postback_events,
        TrafficSource.postback_statuses,
        TrafficSource.postback_status_names,
        TrafficSource.postback_signing_secret,
    )
    .outerjoin(Offer, Offer.id == Click.offer_id)
    .outerjoin(TrafficSource, TrafficSource.id == Click.traffic_source_id)
    .where(Click.id == bindparam("id"))
)


def load_click(conn: Connection, click_id: str) -> ClickRecord | None:
    row = conn.execute(_CLICK, {"id": click_id}).one_or_none()
    if row is None:
        return None
    return ClickRecord(
        id=row.id,
        created_at=row.created_at,
        campaign_id=row.campaign_id,
        offer_id=row.offer_id,
        traffic_source_id=row.traffic_source_id,
        external_id=row.external_id,
        tokens=row.tokens or {},
        is_test=row.is_test,
        network_id=row.network_id,
        offer_payout_micros=row.payout_micros or 0,
        offer_currency=row.currency or "USD",
        source_postback_url=row.postback_url,
        source_events=tuple(row.postback_events or ()),
        source_statuses=tuple(row.postback_statuses or ()),
        source_status_names={str(k): str(v) for k, v in (row.postback_status_names or {}).items()},
        source_signs=bool(row.postback_signing_secret),
    )


_INSERT_CONVERSION = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(_TABLES["conversions"])
    .on_conflict_do_nothing(index_elements=["click_id", "event", "dedupe_key"])
    .returning(Conversion.id)
    for dialect in (postgresql, sqlite)
}
_EXISTING = select(
    Conversion.id,
    Conversion.status,
    Conversion.payout_micros,
    Conversion.revenue_micros,
    Conversion.commission_micros,
    Conversion.is_test,
    Conversion.txid,
).where(
    Conversion.click_id == bindparam("click_id"),
    Conversion.event == bindparam("event"),
    Conversion.dedupe_key == bindparam("dedupe_key"),
)
_EXISTING_LOCKED = _EXISTING.with_for_update()


def insert_conversion(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert unless (click_id, event, dedupe_key) exists; True when this call inserted it.

    The unique constraint decides, not a prior read, so two racing postbacks for the same
    conversion make one row whichever process or transaction gets there first.
    """
    return conn.execute(_INSERT_CONVERSION[conn.dialect.name], values).first() is not None


def lock_conversion(conn: Connection, click_id: str, event: str, dedupe_key: str) -> Row[Any]:
    """The existing conversion for a duplicate key, locked until the transaction ends."""
    stmt = _EXISTING_LOCKED if conn.dialect.name == "postgresql" else _EXISTING
    params = {"click_id": click_id, "event": event, "dedupe_key": dedupe_key}
    row: Row[Any] = conn.execute(stmt, params).one()  # type: ignore[assignment]
    return row


_UPDATE_CONVERSION = update(_TABLES["conversions"]).where(
    Conversion.id == bindparam("conversion_id")
)


def update_conversion(conn: Connection, conversion_id: str, values: dict[str, Any]) -> None:
    conn.execute(_UPDATE_CONVERSION, {**values, "conversion_id": conversion_id})


_INSERT_STATUS_CHANGE = insert(_TABLES["conversion_status_changes"])
_INSERT_DELIVERY = insert(_TABLES["deliveries"])
_INSERT_LOG = insert(_TABLES["postback_log"])


def insert_status_change(conn: Connection, values: dict[str, Any]) -> None:
    insert_later(conn, _INSERT_STATUS_CHANGE, values)


def insert_delivery(conn: Connection, values: dict[str, Any]) -> None:
    insert_later(conn, _INSERT_DELIVERY, values)


def insert_log(conn: Connection, values: dict[str, Any]) -> None:
    insert_later(conn, _INSERT_LOG, values)
