"""All SQL of the inbound postback pipeline. Every function takes the writer's connection."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from postback.conversions.records import ClickRecord, NetworkConfig
from postback.models import (
    Click,
    Conversion,
    ConversionStatusChange,
    Delivery,
    Network,
    Offer,
    PostbackLogEntry,
    TrafficSource,
)

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


def load_network_by_key(conn: Connection, key: str) -> NetworkConfig | None:
    row = conn.execute(
        select(*_NETWORK_COLUMNS).where(Network.key == key, Network.archived.is_(False))
    ).one_or_none()
    return NetworkConfig.from_row(row) if row else None


def load_network_by_id(conn: Connection, network_id: int) -> NetworkConfig | None:
    row = conn.execute(select(*_NETWORK_COLUMNS).where(Network.id == network_id)).one_or_none()
    return NetworkConfig.from_row(row) if row else None


def load_click(conn: Connection, click_id: str) -> ClickRecord | None:
    row = conn.execute(
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
        .where(Click.id == click_id)
    ).one_or_none()
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


def insert_conversion(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert unless (click_id, event, dedupe_key) exists; True when this call inserted it.

    The unique constraint decides, not a prior read, so two racing postbacks for the same
    conversion make one row whichever process or transaction gets there first.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(Conversion)
        .values(values)
        .on_conflict_do_nothing(index_elements=["click_id", "event", "dedupe_key"])
        .returning(Conversion.id)
    )
    return conn.execute(stmt).first() is not None


def lock_conversion(conn: Connection, click_id: str, event: str, dedupe_key: str) -> Row[Any]:
    """The existing conversion for a duplicate key, locked until the transaction ends."""
    stmt = select(
        Conversion.id,
        Conversion.status,
        Conversion.payout_micros,
        Conversion.revenue_micros,
        Conversion.commission_micros,
        Conversion.is_test,
        Conversion.txid,
    ).where(
        Conversion.click_id == click_id,
        Conversion.event == event,
        Conversion.dedupe_key == dedupe_key,
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row: Row[Any] = conn.execute(stmt).one()  # type: ignore[assignment]
    return row


def update_conversion(conn: Connection, conversion_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(Conversion).where(Conversion.id == conversion_id).values(values))


def insert_status_change(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(ConversionStatusChange).values(values))


def insert_delivery(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(Delivery).values(values))


def insert_log(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(PostbackLogEntry).values(values))
