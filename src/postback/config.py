"""The one settings object; every value can be set from the environment (POSTBACK_ prefix)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSTBACK_", env_file=".env", extra="ignore")

    # Storage: a SQLite file by default, PostgreSQL in production.
    database_url: str = "sqlite:///postback.db"
    # SQLite `synchronous`: FULL makes every group commit survive power loss, not just kill -9.
    sqlite_synchronous: str = "FULL"

    # Public address used when we print tracking links and postback URLs.
    public_url: str = "http://127.0.0.1:8000"
    admin_api_key: str | None = None

    # Money: reports and revenue are kept in this currency.
    account_currency: str = "USD"
    # A payout in another currency is refused (`no_rate`) when the newest rate the offline
    # table has for it is older than this before the conversion's day (or the table's last day).
    fx_max_rate_age: timedelta = timedelta(days=7)

    # Write path: how many queued writes one group commit may take at most.
    group_commit_max_batch: int = 512
    # How long a batch of writes waits for a lock held elsewhere (a row another transaction
    # holds on PostgreSQL, the write lock on SQLite), and how long one of its statements may run
    # (PostgreSQL), before the batch fails: its requests get a 503 to retry, nothing of it is
    # written, and the writes queued behind it go on.
    write_lock_timeout: timedelta = timedelta(seconds=5)
    write_statement_timeout: timedelta = timedelta(seconds=10)
    # How long a campaign or network stays in the in-process cache before it is read again.
    config_cache_ttl: timedelta = timedelta(seconds=5)

    # Inbound postbacks.
    default_lookback: timedelta = timedelta(days=30)
    max_body_bytes: int = 65_536
    # Per source IP and process; 0 turns the limit off. Refused requests get 429 rate_limited.
    postback_rate_limit: float = 0
    postback_rate_burst: int = 100
    # The conversion pixel (GET /pixel), per browser IP and process: on by default, since
    # anyone can fire it. A refused pixel still answers its image; the log says rate_limited.
    pixel_rate_limit: float = 1.0
    pixel_rate_burst: int = 20
    # HMAC-signed postbacks: how far a signature's timestamp may be from our clock.
    signature_tolerance: timedelta = timedelta(minutes=5)
    # Trust X-Forwarded-For from these proxies (comma-separated IPs); empty means trust nobody.
    trusted_proxies: str = ""

    # Outbound postbacks (deliveries).
    outbound_timeout: timedelta = timedelta(seconds=10)
    # Private, loopback and link-local destinations are refused unless listed here (CIDRs).
    outbound_allowlist: str = ""
    # Delays before attempt 2, 3, ...; after the last one the delivery is dead-lettered.
    retry_schedule: tuple[timedelta, ...] = tuple(
        timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 36000)
    )
    retry_after_cap: timedelta = timedelta(hours=12)
    delivery_lease: timedelta = timedelta(seconds=60)
    delivery_concurrency: int = 256
    delivery_per_host: int = 32
    # A destination that has failed without a single success for this long is paused.
    destination_pause_after: timedelta = timedelta(days=3)
    # `postback serve` runs a delivery worker in-process so the embedded mode is one command.
    serve_runs_worker: bool = True
    # ... and folds new clicks and conversions into the report rollups in the background.
    serve_runs_aggregator: bool = True

    # Dashboard: how long a sign-in lasts; failed sign-ins allowed per IP and email (in each
    # process) before further tries must wait, an allowance that refills over the window.
    session_lifetime: timedelta = timedelta(days=14)
    login_max_failures: int = 5
    login_throttle_window: timedelta = timedelta(minutes=15)
    # The dashboard's time zone until a page asks for another one (IANA name).
    time_zone: str = "UTC"

    # Logging: "text" for humans, "json" for log shippers.
    log_format: str = "text"
    log_level: str = "INFO"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
