"""All SQL of the inbound postback pipeline. Every function takes the writer's connection.

Statements are built once, with bound parameters, and executed with values: building one per
call (`.values(row)`, `.where(col == value)`) made SQLAlchemy coerce every value and compute a
fresh cache key each time, which cost more than the database work itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection, Row, bindparam, delete, select, update

from postback.conversions.ledger import CostTerms
from postback.conversions.records import ClickRecord, NetworkConfig
from postback.kit.rows import DriverInsert, driver_cursor, from_sqlite_time
from postback.kit.writer import batch_scratch, deferred_rows, insert_later
from postback.models import (
    Base,
    Campaign,
    Click,
    Conversion,
    Network,
    Offer,
    SeenSignature,
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
    Network.events_case_insensitive,
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


def load_all_networks(conn: Connection) -> list[NetworkConfig]:
    """Every network, archived ones too (for redacting their secrets from the log)."""
    return [NetworkConfig.from_row(row) for row in conn.execute(select(*_NETWORK_COLUMNS))]


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
        TrafficSource.events_case_insensitive,
        Campaign.cost_model,
        Campaign.cost_micros,
        Click.ip,
        Click.country,
        Click.flags,
        TrafficSource.postback_skip_flags,
    )
    .outerjoin(Offer, Offer.id == Click.offer_id)
    .outerjoin(Campaign, Campaign.id == Click.campaign_id)
    .outerjoin(TrafficSource, TrafficSource.id == Click.traffic_source_id)
    .where(Click.id == bindparam("id"))
)


_CLICK_SQL: dict[str, str] = {}
_PREFETCHED = "clicks"


def _click_sql(conn: Connection) -> str:
    name = conn.dialect.name
    sql = _CLICK_SQL.get(name)
    if sql is None:
        compiled = _CLICK.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        sql = _CLICK_SQL[name] = str(compiled)
    return sql


def load_click(conn: Connection, click_id: str) -> ClickRecord | None:
    """The click with its offer's and source's settings and its campaign's cost terms, read
    through the driver's cursor (kit/rows.py): SQLAlchemy's result handling (column metadata,
    JSON, datetimes) was a third of a postback's cost. A click the writer's batch already read
    (`prefetch_clicks`) is not read again."""
    scratch = batch_scratch(conn)
    if scratch is not None and click_id in scratch.get(_PREFETCHED, ()):
        found: ClickRecord = scratch[_PREFETCHED][click_id]
        return found
    sqlite_ = conn.dialect.name == "sqlite"
    cursor = driver_cursor(conn)
    cursor.execute(_click_sql(conn), (click_id,) if sqlite_ else {"id": click_id})
    row = cursor.fetchone()
    return _click_record(row) if row is not None else None


def prefetch_clicks(conn: Connection, click_ids: list[str]) -> None:
    """Read the clicks of a whole writer batch with one query, for `load_click` to find."""
    scratch = batch_scratch(conn)
    ids = list(dict.fromkeys(click_ids))
    if scratch is None or not ids:
        return
    single = _click_sql(conn)
    sqlite_ = conn.dialect.name == "sqlite"
    # The single-click query ends in "WHERE clicks.id = <param>"; ask for the list instead.
    where, _, _ = single.rpartition("= ")
    cursor = driver_cursor(conn)
    if sqlite_:
        cursor.execute(f"{where}IN ({', '.join('?' for _ in ids)})", ids)
    else:
        cursor.execute(f"{where}= ANY(%(ids)s)", {"ids": ids})
    scratch[_PREFETCHED] = {row[0]: _click_record(row) for row in cursor.fetchall()}


def _click_record(row: Any) -> ClickRecord:
    (cid, created, campaign, offer, source, external, tokens, is_test, network, payout,
     currency, url, events, statuses, names, signing, folded, cost_model,
     cost_micros, ip, country, flags, skip_flags) = row  # fmt: skip
    source_events, source_statuses, source_status_names = _source_rules(events, statuses, names)
    return ClickRecord(
        cid,
        _utc(created),
        campaign,
        offer,
        source,
        external,
        _json(tokens) or {},
        bool(is_test),
        network,
        payout or 0,
        currency or "USD",
        _cost_terms(cost_model or "none", cost_micros or 0),
        url,
        source_events,
        source_statuses,
        source_status_names,
        bool(signing),
        bool(folded),
        ip,
        country,
        flags or 0,
        skip_flags or 0,
    )


SourceRules = tuple[tuple[str, ...], tuple[str, ...], dict[str, str]]


def _source_rules(events: Any, statuses: Any, names: Any) -> SourceRules:
    """A traffic source's postback rules. SQLite hands them over as JSON text: those are
    parsed once per distinct text, not once per click (callers must not change the dict)."""
    if type(events) is not list and type(statuses) is not list and type(names) is not dict:
        return _parsed_source_rules(events, statuses, names)
    return _parse_source_rules(events, statuses, names)


@lru_cache(maxsize=1024)
def _parsed_source_rules(
    events: str | None, statuses: str | None, names: str | None
) -> SourceRules:
    return _parse_source_rules(events, statuses, names)


def _parse_source_rules(events: Any, statuses: Any, names: Any) -> SourceRules:
    return (
        tuple(_json(events) or ()),
        tuple(_json(statuses) or ()),
        {str(k): str(v) for k, v in (_json(names) or {}).items()},
    )


@lru_cache(maxsize=1024)
def _cost_terms(model: str, micros: int) -> CostTerms:
    return CostTerms(model, micros)


def _json(value: Any) -> Any:
    # SQLite hands back JSON as text; psycopg has already decoded it.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _utc(value: Any) -> datetime:
    # SQLite hands back SQLAlchemy's DATETIME text (always UTC); psycopg an aware datetime.
    if isinstance(value, str):
        return from_sqlite_time(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_PIXEL_SETTINGS = select(
    Campaign.pixel_enabled, Campaign.pixel_status, Campaign.pixel_fires_postbacks
).where(Campaign.id == bindparam("id"))


def load_pixel_settings(conn: Connection, campaign_id: int) -> Row[Any] | None:
    """(enabled, status, fires postbacks) of a campaign's conversion pixel."""
    row: Row[Any] | None = conn.execute(_PIXEL_SETTINGS, {"id": campaign_id}).one_or_none()  # type: ignore[assignment]
    return row


_CONVERSION_COLUMNS = (
    "id", "click_id", "dedupe_key", "created_at", "updated_at", "click_at", "campaign_id",
    "offer_id", "network_id", "traffic_source_id", "event", "event_key", "txid", "status",
    "payout_micros", "revenue_micros", "commission_micros", "cost_micros", "amount_micros",
    "original_amount", "original_sale_amount", "original_currency", "fx_rate", "fx_date",
    "params", "is_test", "source", "flags",
)  # fmt: skip
# The duplicate rule's key is (click, event as its network matches it, dedupe key).
_INSERT_CONVERSION = DriverInsert(
    _TABLES["conversions"],
    _CONVERSION_COLUMNS,
    "ON CONFLICT (click_id, event_key, dedupe_key) DO NOTHING",
)


_EXISTING = select(
    Conversion.id,
    Conversion.status,
    Conversion.payout_micros,
    Conversion.revenue_micros,
    Conversion.commission_micros,
    Conversion.cost_micros,
    Conversion.is_test,
    Conversion.txid,
    Conversion.amount_micros,
    Conversion.source,
    Conversion.flags,
).where(
    Conversion.click_id == bindparam("click_id"),
    Conversion.event_key == bindparam("event_key"),
    Conversion.dedupe_key == bindparam("dedupe_key"),
)
_EXISTING_LOCKED = _EXISTING.with_for_update()


def insert_conversion(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert unless (click_id, event, dedupe_key) exists; True when this call inserted it.

    The unique constraint decides, not a prior read, so two racing postbacks for the same
    conversion make one row whichever process or transaction gets there first.
    """
    return _INSERT_CONVERSION.execute(conn, values) == 1


def insert_conversions(conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert many conversions at once, each unless its (click_id, event, dedupe_key) exists
    (in the table or earlier in `rows`); the ids of the rows inserted."""
    return {row[0] for row in _INSERT_CONVERSION.insert_returning(conn, rows, "id")}


def lock_conversion(conn: Connection, click_id: str, event_key: str, dedupe_key: str) -> Row[Any]:
    """The existing conversion for a duplicate key, locked until the transaction ends."""
    stmt = _EXISTING_LOCKED if conn.dialect.name == "postgresql" else _EXISTING
    params = {"click_id": click_id, "event_key": event_key, "dedupe_key": dedupe_key}
    row: Row[Any] = conn.execute(stmt, params).one()  # type: ignore[assignment]
    return row


_BY_ID = select(*_EXISTING.selected_columns, Conversion.click_id, Conversion.event).where(
    Conversion.id == bindparam("id")
)
_BY_ID_LOCKED = _BY_ID.with_for_update()


def lock_conversion_by_id(conn: Connection, conversion_id: str) -> Row[Any] | None:
    """A conversion by id, locked until the transaction ends (on SQLite the transaction holds
    the write lock from its first statement, see kit/db.py), so that a status change and a
    racing repeat postback apply one after the other to the latest state."""
    stmt = _BY_ID_LOCKED if conn.dialect.name == "postgresql" else _BY_ID
    row: Row[Any] | None = conn.execute(stmt, {"id": conversion_id}).one_or_none()  # type: ignore[assignment]
    return row


_UPDATE_CONVERSION = update(_TABLES["conversions"]).where(
    Conversion.id == bindparam("conversion_id")
)


_HAS_DELIVERY = (
    select(_TABLES["deliveries"].c.id)
    .where(_TABLES["deliveries"].c.conversion_id == bindparam("id"))
    .limit(1)
)


def has_delivery(conn: Connection, conversion_id: str) -> bool:
    """Whether an outbound postback was ever queued for the conversion (in this writer batch
    too: its deliveries are inserted at the batch's end)."""
    if any(r["conversion_id"] == conversion_id for r in deferred_rows(conn, _INSERT_DELIVERY)):
        return True
    return conn.execute(_HAS_DELIVERY, {"id": conversion_id}).first() is not None


def update_conversion(conn: Connection, conversion_id: str, values: dict[str, Any]) -> None:
    conn.execute(_UPDATE_CONVERSION, {**values, "conversion_id": conversion_id})


# The append-only rows of a postback, written together at the end of the writer's batch.
_INSERT_STATUS_CHANGE = DriverInsert(
    _TABLES["conversion_status_changes"],
    ("conversion_id", "at", "from_status", "to_status", "payout_delta_micros",
     "revenue_delta_micros", "cost_delta_micros", "amount_delta_micros", "postback_id",
     "origin", "api_key_id", "source"),
)  # fmt: skip
_INSERT_DELIVERY = DriverInsert(
    _TABLES["deliveries"],
    ("id", "conversion_id", "traffic_source_id", "url", "method", "body", "state", "attempts",
     "next_attempt_at", "created_at", "event", "status"),
)  # fmt: skip
_INSERT_LOG = DriverInsert(
    _TABLES["postback_log"],
    ("id", "received_at", "source_ip", "method", "path", "query", "body", "parsed",
     "network_id", "click_id", "outcome", "reason", "http_status", "conversion_id"),
)  # fmt: skip


def insert_status_change(conn: Connection, values: dict[str, Any]) -> None:
    insert_later(conn, _INSERT_STATUS_CHANGE, values)


def insert_delivery(conn: Connection, values: dict[str, Any]) -> None:
    insert_later(conn, _INSERT_DELIVERY, values)


def insert_log(conn: Connection, values: dict[str, Any]) -> None:
    insert_later(conn, _INSERT_LOG, values)


_INSERT_SIGNATURE = DriverInsert(
    _TABLES["seen_signatures"],
    ("network_id", "signature", "expires_at"),
    "ON CONFLICT (network_id, signature) DO NOTHING",
)
_PURGE_SIGNATURES = delete(_TABLES["seen_signatures"]).where(
    SeenSignature.expires_at < bindparam("now")
)


def claim_signature(
    conn: Connection, network_id: int, signature: str, expires_at: datetime
) -> bool:
    """Remember a signature until it expires; False when it was already used (a replay).

    The primary key decides, so two processes racing with the same signature see one win:
    the loser waits for the winner's transaction and then conflicts (or, if that one rolled
    back, takes the signature itself)."""
    row = {"network_id": network_id, "signature": signature, "expires_at": expires_at}
    return _INSERT_SIGNATURE.execute(conn, row) == 1


_USER_IPS = select(Conversion.params).where(Conversion.click_id == bindparam("click_id"))


def conversion_params_of_click(conn: Connection, click_id: str) -> list[Any]:
    """The params of a click's conversions so far (a click has a handful at most: one per
    event or txid), for the user IPs they were reported from."""
    return [_json(row[0]) for row in conn.execute(_USER_IPS, {"click_id": click_id})]


def purge_signatures(conn: Connection, now: datetime) -> None:
    """Forget signatures whose timestamps are out of the window: the time check refuses them."""
    conn.execute(_PURGE_SIGNATURES, {"now": now})
