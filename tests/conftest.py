"""Test fixtures: a real database (SQLite file and PostgreSQL), a real server over real HTTP.

Every database test runs once per backend in POSTBACK_TEST_DATABASES (default: both). The
PostgreSQL server is taken from POSTBACK_TEST_PG_URL (default: trust auth on 127.0.0.1:5432);
each test session creates its own database there and drops it at the end.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text

from postback.app import PostbackApp
from postback.config import Settings
from postback.kit.db import normalize_url
from postback.kit.migrate import upgrade
from postback.models import Base
from postback.runtime import Runtime

DATABASES = [
    d for d in os.environ.get("POSTBACK_TEST_DATABASES", "sqlite,postgresql").split(",") if d
]
PG_URL = os.environ.get("POSTBACK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")
ADMIN_KEY = "pb_test_admin_key_0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def scratch_database(kind: str, directory: Path) -> Iterator[str]:
    """The URL of a new, empty database of one kind, dropped (PostgreSQL) at the end."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'postback.db'}"
        return
    name = f"postback_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(f"{PG_URL}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_URL}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=DATABASES)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with scratch_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    settings = Settings(
        database_url=database_url,
        admin_api_key=ADMIN_KEY,
        public_url="http://testserver",
        sqlite_synchronous="NORMAL",
        log_level="WARNING",
        # Tests drive delivery workers themselves, with a controlled clock.
        serve_runs_worker=False,
        serve_runs_aggregator=False,
        outbound_allowlist="127.0.0.0/8",
        _env_file=None,  # type: ignore[call-arg]
    )
    upgrade(settings)
    return settings


@dataclass
class LiveServer:
    url: str
    app: PostbackApp
    settings: Settings

    @property
    def runtime(self) -> Runtime:
        assert self.app.runtime is not None
        return self.app.runtime


@pytest.fixture(scope="session")
def server(settings: Settings) -> Iterator[LiveServer]:
    """The real application under uvicorn in a background thread, on a free local port."""
    app = PostbackApp(settings)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="warning",
        proxy_headers=False,  # as `postback serve` runs it
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    settings.public_url = f"http://127.0.0.1:{port}"
    yield LiveServer(url=f"http://127.0.0.1:{port}", app=app, settings=settings)
    uv.should_exit = True
    thread.join(timeout=20)


def wipe(settings: Settings) -> None:
    engine = create_engine(normalize_url(settings.database_url))
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


@pytest.fixture
def live(server: LiveServer) -> Iterator[LiveServer]:
    """The live server over an empty database (the bootstrap admin key is kept working)."""
    wipe(server.settings)
    server.runtime.routes.clear()
    server.runtime.networks.clear()
    yield server


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    """Plain HTTP client for the public endpoints; redirects are never followed."""
    with httpx.Client(base_url=live.url, follow_redirects=False, timeout=10) as client:
        yield client


@pytest.fixture
def api(live: LiveServer) -> Iterator[httpx.Client]:
    """HTTP client for the admin API, authenticated with the bootstrap admin key."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=live.url, headers=headers, follow_redirects=False, timeout=10) as c:
        yield c


@pytest.fixture
def tmp_sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'scratch.db'}"
