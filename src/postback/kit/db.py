"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production).

SQLite notes: pysqlite's own transaction handling is switched off and we emit `BEGIN IMMEDIATE`
ourselves. A deferred BEGIN takes the write lock only at the first write, and two such
transactions that both read first then write deadlock into "database is locked" without waiting
for busy_timeout. IMMEDIATE takes the lock up front, so writers queue on busy_timeout instead.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from postback.config import Settings

log = logging.getLogger("postback.db")

# How long a SQLite connection waits for the write lock another connection holds.
BUSY_TIMEOUT_MS = 10_000
# What the SQLite WAL file is cut back to once a checkpoint lets it start over, in bytes.
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def _bind_none(value: None) -> None:
    return value


# The sqlite3 module "adapts" every parameter that is not exactly an int, float or str. For
# None it looked up two adapter hooks and raised (and formatted) an AttributeError for the
# first before binding NULL: about 0.25 us per None, and a click row binds several. With an
# adapter registered for None it finds it in its registry at once. None still binds as NULL.
sqlite3.register_adapter(type(None), _bind_none)


def normalize_url(url: str) -> str:
    """Accept the plain `postgresql://` form users paste and pick the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(
    settings: Settings, *, read_only: bool = False, own_checkpoints: bool = False, **kwargs: Any
) -> Engine:
    """An engine; on SQLite, `read_only` makes deferred transactions that skip the write lock."""
    url = normalize_url(settings.database_url)
    # Bound values never appear in an exception's message, so a failed statement logged with
    # its traceback cannot leak a secret, a password hash or a session token it carried.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        _configure_sqlite(
            engine,
            settings.sqlite_synchronous,
            "BEGIN" if read_only else "BEGIN IMMEDIATE",
            own_checkpoints,
        )
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine, synchronous: str, begin: str, own_checkpoints: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, see module docstring
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if own_checkpoints:
            # By default the commit that pushes the WAL past 1000 pages also copies it into the
            # database file, and every click queued behind that commit waits tens of ms. A
            # background thread (WalCheckpointer) does that work instead.
            cur.execute("PRAGMA wal_autocheckpoint=0")
            # When a finished checkpoint lets the next write start the WAL over, the file is
            # cut back to this size: the WAL does not keep its high-water mark for good.
            cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        # Straight to the driver: through exec_driver_sql this one statement cost as much as
        # the group commit's whole insert of a batch of clicks. A transaction already open on
        # the driver (the group-commit writer's BEGIN that must not wait) is adopted as is.
        raw = conn.connection.driver_connection
        if not raw.in_transaction:
            raw.execute(begin)


class WalCheckpointer:
    """Copies the SQLite WAL into the database file off the request path, four times a second.

    PASSIVE never waits for readers or writers, so commits go on while it runs. (A TRUNCATE
    every minute used to keep the WAL file small; it holds the write lock while it waits for
    readers and copies, which stalled every click in flight once a minute. The connections'
    journal_size_limit trims the file instead.)

    The WAL starts over from its beginning only after a checkpoint has copied all of it, and a
    checkpoint running beside a writer that commits every few ms never does: under sustained
    load the file grew by the whole write volume (140 MB in a 10 s benchmark). So once the WAL
    holds more than RESET_FRAMES, `on_large_wal` asks the group-commit writer to run one
    checkpoint between two of its batches, when nothing is appended meanwhile; it copies only
    what the background checkpoints have not, and the next write starts the WAL over."""

    INTERVAL = 0.25
    RESET_FRAMES = WAL_SIZE_LIMIT // 4096

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.on_large_wal: Callable[[], None] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            try:
                # The raw connection, outside any transaction: through SQLAlchemy the PRAGMA
                # would start with our BEGIN IMMEDIATE and hold the write lock throughout.
                raw = self._engine.raw_connection()
                try:
                    frames = wal_checkpoint(raw.driver_connection)
                finally:
                    raw.close()
                if frames > self.RESET_FRAMES and self.on_large_wal is not None:
                    self.on_large_wal()
            except Exception:
                log.exception("WAL checkpoint failed")


def wal_checkpoint(driver_connection: Any) -> int:
    """A PASSIVE checkpoint on a raw sqlite3 connection; the frames the WAL holds."""
    _busy, frames, _copied = driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames)


class Database:
    """The process's engine plus a session factory; created once in the app's lifespan."""

    def __init__(self, settings: Settings, *, own_checkpoints: bool = False) -> None:
        self.settings = settings
        own_checkpoints = own_checkpoints and settings.is_sqlite
        self.engine = make_engine(settings, own_checkpoints=own_checkpoints)
        self.checkpointer = WalCheckpointer(self.engine) if own_checkpoints else None
        if self.checkpointer is not None:
            self.checkpointer.start()
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
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
        self.reader.dispose()
