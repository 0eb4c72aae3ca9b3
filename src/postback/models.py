"""The schema: one place for every table, shared by the ORM (admin API) and Core (hot paths).

Conventions: money columns end in `_micros` (see kit/money.py); times are UTC; public ids are
strings (ULIDs or short keys), internal foreign keys are integers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Lengths shared by the columns and the code that trims input to fit them.
USER_AGENT_MAX = 512
REFERRER_MAX = 1024
TOKEN_VALUE_MAX = 255
TOKEN_NAME_MAX = 50
URL_MAX = 2048
# The family names ua-parser gives (a bot's may be cut from its user agent).
FAMILY_MAX = 50

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on both databases.

    SQLite has no time zone type and hands back naive values; PostgreSQL's timestamptz hands
    back aware ones. Code compares click and conversion times, so both must look the same.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, list[Any]: JSON}


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the whole key: keys are 192-bit random, so a fast hash is safe here.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TrafficSource(Timestamped, Base):
    __tablename__ = "traffic_sources"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    template: Mapped[str] = mapped_column(String(50), default="custom")
    # Query parameter of our tracking link that carries the source's own click ID.
    external_id_param: Mapped[str] = mapped_column(String(50), default="external_id")
    # Query parameter that carries the per-click cost, for the "token" cost model.
    cost_param: Mapped[str] = mapped_column(String(50), default="cost")
    postback_url: Mapped[str | None] = mapped_column(String(URL_MAX))
    # Which conversions fire the outbound postback: empty lists mean every event / status.
    postback_events: Mapped[list[Any]] = mapped_column(JSON, default=list)
    postback_statuses: Mapped[list[Any]] = mapped_column(JSON, default=lambda: ["approved"])
    # Our status names as the receiver wants them, e.g. {"approved": "1", "rejected": "0"}.
    postback_status_names: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Standard Webhooks signing secret ("whsec_..."), for custom receivers that verify it.
    postback_signing_secret: Mapped[str | None] = mapped_column(String(200))
    # Set when the receiver answered 410 Gone, or failed for days on end; cleared by an edit.
    postback_disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    postback_disabled_reason: Mapped[str | None] = mapped_column(String(200))
    # First failure since the last success; a destination failing for days gets paused.
    postback_failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Its system treats event names case-insensitively (from its template): postback_events
    # then match `Lead` to `lead`. By default they match exactly.
    events_case_insensitive: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Conversions carrying any of these fraud flags (bits, fraud/flags.py) are not sent.
    postback_skip_flags: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)


class Network(Timestamped, Base):
    __tablename__ = "networks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    template: Mapped[str] = mapped_column(String(50), default="custom")
    secret: Mapped[str | None] = mapped_column(String(200))
    # When set, postbacks must carry an HMAC-SHA256 signature made with it (see docs/postbacks.md).
    signing_secret: Mapped[str | None] = mapped_column(String(200))
    allowed_ips: Mapped[list[Any]] = mapped_column(JSON, default=list)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    lookback_days: Mapped[int] = mapped_column(Integer, default=30)
    duplicate_mode: Mapped[str] = mapped_column(String(20), default="ignore")
    # Per-event overrides of duplicate_mode, e.g. {"rebill": "new_per_txid"}.
    duplicate_modes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Extra parameter aliases, {"their_name": "canonical_name"}; they win over the defaults.
    aliases: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Their status words to ours, {"1": "approved", "hold": "pending"}.
    status_map: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Its system treats event names case-insensitively (from its template): duplicate_modes
    # and the duplicate rule then take `Lead` and `lead` for one event.
    events_case_insensitive: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    archived: Mapped[bool] = mapped_column(Boolean, default=False)


class Offer(Timestamped, Base):
    __tablename__ = "offers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(URL_MAX))
    network_id: Mapped[int | None] = mapped_column(ForeignKey("networks.id"))
    payout_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # Conversions a day (in cap_timezone) after which clicks go to the fallback offer instead.
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    cap_timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    cap_fallback_offer_id: Mapped[int | None] = mapped_column(Integer)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)


class Lander(Timestamped, Base):
    """A landing page (pre-lander) shown between the click and the offer."""

    __tablename__ = "landers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(URL_MAX))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)


class Campaign(Timestamped, Base):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    traffic_source_id: Mapped[int] = mapped_column(ForeignKey("traffic_sources.id"))
    status: Mapped[str] = mapped_column(String(10), default="active")
    # "none", "cpc" (cost_value per click), "cpm" (per 1000 clicks) or "token" (source passes it).
    # none | cpc | cpm | token | cpa | revshare. cost_micros is the CPC, CPM or CPA amount, or
    # for revshare the percentage of revenue in millionths of a percent (40% = 40_000_000).
    cost_model: Mapped[str] = mapped_column(String(10), default="none")
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    fallback_url: Mapped[str | None] = mapped_column(String(URL_MAX))
    # [{"name", "weight", "landers": [[id, weight]], "offers": [[id, weight]]}]: the weighted
    # paths a click can take, and [{"name", "when": {...}, "path"}]: rules that pick one.
    # Ids inside are checked on every save; offers and landers are archived, never deleted.
    paths: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rules: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The conversion pixel (conversions/pixel.py): off unless the campaign opts in, since
    # anyone who sees their own click ID can fire it. What it records is provisional (this
    # status, the offer's payout) and fires the outbound postback only when told to.
    pixel_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    pixel_status: Mapped[str] = mapped_column(
        String(12), default="pending", server_default="pending"
    )
    pixel_fires_postbacks: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )


class Click(Base):
    __tablename__ = "clicks"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    campaign_id: Mapped[int] = mapped_column(Integer)
    offer_id: Mapped[int | None] = mapped_column(Integer)
    lander_id: Mapped[int | None] = mapped_column(Integer)
    traffic_source_id: Mapped[int] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_MAX))
    referrer: Mapped[str | None] = mapped_column(String(REFERRER_MAX))
    language: Mapped[str | None] = mapped_column(String(16))
    country: Mapped[str | None] = mapped_column(String(2))
    device: Mapped[str | None] = mapped_column(String(16))
    os: Mapped[str | None] = mapped_column(String(FAMILY_MAX))
    browser: Mapped[str | None] = mapped_column(String(FAMILY_MAX))
    external_id: Mapped[str | None] = mapped_column(String(TOKEN_VALUE_MAX))
    tokens: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    # Fraud signals, bits of fraud/flags.py's Flag (0: none).
    flags: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (Index(None, "campaign_id", "created_at"),)


class LanderClick(Base):
    """A visitor who went on from a lander to the offer (the lander's click-through)."""

    __tablename__ = "lander_clicks"
    click_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    campaign_id: Mapped[int] = mapped_column(Integer)
    lander_id: Mapped[int | None] = mapped_column(Integer)


def _exact_event(context: Any) -> Any:
    # An insert that names only the event (tests, benchmarks) matches it exactly.
    return context.get_current_parameters()["event"]


class Conversion(Base):
    __tablename__ = "conversions"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    click_id: Mapped[str] = mapped_column(String(26))
    # The duplicate rule's key: "" for one conversion per (click, event), the txid otherwise.
    dedupe_key: Mapped[str] = mapped_column(String(TOKEN_VALUE_MAX))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    click_at: Mapped[datetime] = mapped_column(UtcDateTime())
    campaign_id: Mapped[int] = mapped_column(Integer)
    offer_id: Mapped[int | None] = mapped_column(Integer)
    network_id: Mapped[int | None] = mapped_column(Integer)
    traffic_source_id: Mapped[int] = mapped_column(Integer)
    # The event exactly as sent; event_key is what the duplicate rule compares: the same text,
    # or lower case for a network whose system does not tell `Lead` from `lead`.
    event: Mapped[str] = mapped_column(String(50))
    event_key: Mapped[str] = mapped_column(String(50), default=_exact_event)
    txid: Mapped[str | None] = mapped_column(String(TOKEN_VALUE_MAX))
    status: Mapped[str] = mapped_column(String(12))
    # In the account currency; the original amount and the rate used are kept beside it.
    payout_micros: Mapped[int] = mapped_column(BigInteger)
    revenue_micros: Mapped[int] = mapped_column(BigInteger)
    commission_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    # What the conversion costs us under a CPA or RevShare campaign (0 otherwise).
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    # The sale value (`amount`, `val`...) beside the payout, in the account currency, at the
    # payout's rate; NULL when the sender named none. Its text as sent is original_sale_amount.
    amount_micros: Mapped[int | None] = mapped_column(BigInteger)
    original_amount: Mapped[str] = mapped_column(String(40))
    original_sale_amount: Mapped[str | None] = mapped_column(String(40))
    original_currency: Mapped[str] = mapped_column(String(3))
    fx_rate: Mapped[str] = mapped_column(String(40))
    fx_date: Mapped[str | None] = mapped_column(String(10))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    # What recorded it: "postback", "manual" (the conversions API) or "pixel" (provisional,
    # until a postback or an admin's create for the same click and event supersedes it).
    source: Mapped[str] = mapped_column(String(12), default="postback", server_default="postback")
    # Fraud signals: the click's and the conversion's own (fraud/flags.py), set once.
    flags: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        UniqueConstraint("click_id", "event_key", "dedupe_key"),
        Index(None, "campaign_id", "created_at"),
        # Offer daily caps count today's conversions of an offer.
        Index(None, "offer_id", "created_at"),
    )


class ConversionStatusChange(Base):
    """Append-only ledger: every status or payout change with its revenue delta."""

    __tablename__ = "conversion_status_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversion_id: Mapped[str] = mapped_column(ForeignKey("conversions.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    payout_delta_micros: Mapped[int] = mapped_column(BigInteger)
    revenue_delta_micros: Mapped[int] = mapped_column(BigInteger)
    cost_delta_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    # Of the recognised sale value (ledger.py): what reports sum as sale_amount.
    amount_delta_micros: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The postback-log row of the postback that made the change, if one did.
    postback_id: Mapped[str | None] = mapped_column(String(26))
    # "postback", or "manual" for a change made through the conversions API by an API key.
    origin: Mapped[str] = mapped_column(String(12), default="postback", server_default="postback")
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    # The conversion's source this row counts under in reports: its source when the row was
    # written. A postback superseding a pixel's conversion writes two rows: the pixel's state
    # withdrawn (to_status "superseded", source "pixel"), then its own (from_status NULL).
    source: Mapped[str] = mapped_column(String(12), default="postback", server_default="postback")


class PostbackLogEntry(Base):
    """Every inbound postback request, accepted or not: the first place to look for a lost one."""

    __tablename__ = "postback_log"
    # A ULID made as the postback is processed: id order is arrival order, so time filters
    # use the primary key and received_at needs no index of its own (migration 0011).
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    source_ip: Mapped[str | None] = mapped_column(String(45))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(URL_MAX))
    query: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    parsed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    network_id: Mapped[int | None] = mapped_column(Integer)
    click_id: Mapped[str | None] = mapped_column(String(TOKEN_VALUE_MAX), index=True)
    outcome: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(String(40))
    http_status: Mapped[int] = mapped_column(Integer)
    conversion_id: Mapped[str | None] = mapped_column(String(26))


class SeenSignature(Base):
    """An HMAC signature a postback was accepted with, kept until its timestamp leaves the
    tolerance window: the primary key makes a second use of it a conflict (a replay)."""

    __tablename__ = "seen_signatures"
    network_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class Delivery(Base):
    """Outbound postback queued in the conversion's own transaction (transactional outbox).

    Its id is also the idempotency key sent with every attempt. States: pending (due at
    next_attempt_at), delivering (leased by a worker until lease_expires_at), delivered,
    dead (attempts exhausted or permanent failure), disabled (the destination said 410 Gone).
    """

    __tablename__ = "deliveries"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    conversion_id: Mapped[str] = mapped_column(ForeignKey("conversions.id"), index=True)
    traffic_source_id: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(URL_MAX))
    # GET with everything in the URL, as traffic sources expect; signed destinations get a
    # POST with a JSON body instead, the shape Standard Webhooks verifiers expect.
    method: Mapped[str] = mapped_column(String(6), default="GET")
    body: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    event: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str | None] = mapped_column(String(12))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (Index(None, "state", "next_attempt_at"),)


class DeliveryAttempt(Base):
    """One try of one delivery: what we sent and what came back."""

    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    url: Mapped[str] = mapped_column(String(URL_MAX))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(String(500))
    response_snippet: Mapped[str | None] = mapped_column(String(1024))
    worker: Mapped[str | None] = mapped_column(String(64))


# --- Reports: rollups folded from clicks and the status ledger (reports/aggregator.py) ---------
# Keys never hold NULL (a unique key treats NULLs as distinct, which would defeat the upsert):
# "no offer" is 0 and "no country" is "". `level` is 0 for 15-minute buckets, 1 for hours and
# 2 for UTC days; `q` is the bucket's start in 15-minute units since the epoch. Primary keys
# start with (level, q) so a report reads one index range per level.


class ReportWatermark(Base):
    """Everything timestamped before `folded_until` is in the rollups; later rows are not."""

    __tablename__ = "report_watermarks"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    # NULL until the first fold: the row exists from the start, for writers to lock (ADR 0013).
    folded_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Where the fold in progress (or the last one) goes up to: a click or ledger row committed
    # with a timestamp before it is named in report_late_rows by a trigger (migration 0012).
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ReportLateRow(Base):
    """A click ("click") or ledger row ("ledger", its id as text) that committed with a
    timestamp before the watermark's claim: the next fold folds it and deletes this row."""

    __tablename__ = "report_late_rows"
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    row_id: Mapped[str] = mapped_column(String(26), primary_key=True)


class ReportSkippedRow(Base):
    """A click or ledger row the fold could not take (its error, alone, was not the database's
    passing trouble): left out of the rollups and of reports until `postback reports refold`
    folds it (ADR 0015). `attempts`: the folds it failed alone."""

    __tablename__ = "report_skipped_rows"
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    row_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    error: Mapped[str] = mapped_column(String(500))
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer)


class ReportVisitor(Base):
    """Visitors (IP, or the click ID when there is none) seen per campaign and UTC day, kept
    only for the day the watermark is in: enough to tell whether a new click is unique."""

    __tablename__ = "report_visitors"
    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visitor: Mapped[str] = mapped_column(String(45), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)


class _Rollup:
    level: Mapped[int] = mapped_column(Integer)
    q: Mapped[int] = mapped_column(Integer)
    is_test: Mapped[bool] = mapped_column(Boolean)
    campaign_id: Mapped[int] = mapped_column(Integer)
    traffic_source_id: Mapped[int] = mapped_column(Integer)


class _ClickMetrics(_Rollup):
    clicks: Mapped[int] = mapped_column(BigInteger)
    unique_clicks: Mapped[int] = mapped_column(BigInteger)
    cost_micros: Mapped[int] = mapped_column(BigInteger)


class _ConversionMetrics(_Rollup):
    # 0: bucketed by the conversion's time, 1: by its click's time.
    basis: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(50))
    source: Mapped[str] = mapped_column(String(12), server_default="postback")
    conversions: Mapped[int] = mapped_column(BigInteger)
    approved: Mapped[int] = mapped_column(BigInteger)
    pending: Mapped[int] = mapped_column(BigInteger)
    rejected: Mapped[int] = mapped_column(BigInteger)
    refunded: Mapped[int] = mapped_column(BigInteger)
    chargeback: Mapped[int] = mapped_column(BigInteger)
    revenue_micros: Mapped[int] = mapped_column(BigInteger)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_micros: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class _Geo:
    country: Mapped[str] = mapped_column(String(2))
    device: Mapped[str] = mapped_column(String(16))
    os: Mapped[str] = mapped_column(String(50))
    browser: Mapped[str] = mapped_column(String(50))


class _Token:
    name: Mapped[str] = mapped_column(String(TOKEN_NAME_MAX))
    value: Mapped[str] = mapped_column(String(TOKEN_VALUE_MAX))


_KEY = ("level", "q", "is_test", "campaign_id", "traffic_source_id")
_GEO = ("country", "device", "os", "browser")


class _Flagged:
    # The rows' fraud flags (fraud/flags.py), last in the key (migration 0019).
    flags: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ReportClickCampaign(_Flagged, _ClickMetrics, Base):
    __tablename__ = "report_click_campaign"
    offer_id: Mapped[int] = mapped_column(Integer)
    __table_args__ = (PrimaryKeyConstraint(*_KEY, "offer_id", "flags"),)


class ReportClickGeo(_Flagged, _Geo, _ClickMetrics, Base):
    __tablename__ = "report_click_geo"
    __table_args__ = (PrimaryKeyConstraint(*_KEY, *_GEO, "flags"),)


class ReportClickToken(_Token, _ClickMetrics, Base):
    __tablename__ = "report_click_tokens"
    __table_args__ = (PrimaryKeyConstraint("level", "name", *_KEY[1:], "value"),)


class ReportConversionCampaign(_Flagged, _ConversionMetrics, Base):
    """report_conversions without the click's country, device, OS and browser: a few rows per
    hour, for reports by campaign, traffic source, offer, network and time."""

    __tablename__ = "report_conversion_campaign"
    offer_id: Mapped[int] = mapped_column(Integer)
    # basis before q: a report asks for one basis at a time and reads only its rows.
    __table_args__ = (
        PrimaryKeyConstraint("level", "basis", *_KEY[1:], "offer_id", "source", "event", "flags"),
    )


class ReportConversion(_Flagged, _Geo, _ConversionMetrics, Base):
    __tablename__ = "report_conversions"
    offer_id: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        PrimaryKeyConstraint(*_KEY, "basis", "offer_id", *_GEO, "source", "event", "flags"),
    )


class ReportConversionToken(_Token, _ConversionMetrics, Base):
    __tablename__ = "report_conversion_tokens"
    __table_args__ = (
        PrimaryKeyConstraint("level", "name", *_KEY[1:], "basis", "value", "source", "event"),
    )


# The tail of not-yet-folded ledger rows is read by time.
Index("ix_conversion_status_changes_at", ConversionStatusChange.at)
