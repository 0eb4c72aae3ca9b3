"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production).

SQLite notes: pysqlite's own transaction handling is switched off and we emit `BEGIN IMMEDIATE`
ourselves. A deferred BEGIN takes the write lock only at the first write, and two such
transactions that both read first then write deadlock into "database is locked" without waiting
for busy_timeout. IMMEDIATE takes the lock up front, so writers queue on busy_timeout instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from postback.config import Settings


def normalize_url(url: str) -> str:
    """Accept the plain `postgresql://` form users paste and pick the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(settings: Settings, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine; on SQLite, `read_only` makes deferred transactions that skip the write lock."""
    url = normalize_url(settings.database_url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        _configure_sqlite(
            engine, settings.sqlite_synchronous, "BEGIN" if read_only else "BEGIN IMMEDIATE"
        )
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine, synchronous: str, begin: str) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, see module docstring
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


class Database:
    """The process's engine plus a session factory; created once in the app's lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        # Hot-path lookups (campaigns, networks) read through this one so they never queue
        # behind the writer on SQLite; on PostgreSQL it is simply the same engine.
        self.reader = make_engine(settings, read_only=True) if settings.is_sqlite else self.engine
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any error. Services never commit."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
        self.reader.dispose()
