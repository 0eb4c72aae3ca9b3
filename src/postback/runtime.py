"""What one server process holds while it runs: settings, database, writer and caches."""

from __future__ import annotations

from dataclasses import dataclass, field

from postback.clicks.repository import ClickRows
from postback.config import Settings
from postback.kit.cache import TTLCache
from postback.kit.db import Database
from postback.kit.ratelimit import RateLimiter
from postback.kit.writer import GroupCommitWriter


@dataclass
class Runtime:
    settings: Settings
    db: Database
    writer: GroupCommitWriter
    trusted_proxies: frozenset[str] = field(default_factory=frozenset)
    postback_limiter: RateLimiter = field(init=False)
    pixel_limiter: RateLimiter = field(init=False)
    routes: TTLCache = field(init=False)
    networks: TTLCache = field(init=False)
    # The attributes of the click cookie (clicks/redirect.py), made once, not per click. It
    # lasts as long as the lookback window in which a conversion can still be attributed.
    cookie_suffix: bytes = field(init=False)

    def __post_init__(self) -> None:
        ttl = self.settings.config_cache_ttl.total_seconds()
        self.routes = TTLCache(ttl)
        self.networks = TTLCache(ttl)
        self.postback_limiter = RateLimiter(
            self.settings.postback_rate_limit, self.settings.postback_rate_burst
        )
        secure = "; Secure" if self.settings.public_url.startswith("https:") else ""
        age = int(self.settings.default_lookback.total_seconds())
        self.cookie_suffix = f"; Path=/; Max-Age={age}; HttpOnly; SameSite=Lax{secure}".encode()
        self.pixel_limiter = RateLimiter(
            self.settings.pixel_rate_limit, self.settings.pixel_rate_burst
        )

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        db = Database(settings, own_checkpoints=True)
        click_rows = ClickRows(db.engine.dialect.name)
        writer = GroupCommitWriter(
            db.engine,
            click_rows,
            settings.group_commit_max_batch,
            lock_timeout=settings.write_lock_timeout.total_seconds(),
            statement_timeout=settings.write_statement_timeout.total_seconds(),
        )
        if db.checkpointer is not None:
            db.checkpointer.on_large_wal = writer.request_checkpoint
        proxies = frozenset(p.strip() for p in settings.trusted_proxies.split(",") if p.strip())
        return cls(settings=settings, db=db, writer=writer, trusted_proxies=proxies)

    def start(self) -> None:
        self.writer.start()

    def stop(self) -> None:
        self.writer.stop()
        self.db.dispose()
