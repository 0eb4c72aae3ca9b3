"""Migration 0007 turns each campaign's weighted offers into its default path, on both DBs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, MetaData, Table, create_engine, text

from postback.config import Settings
from postback.kit.db import normalize_url
from postback.kit.migrate import upgrade
from tests.conftest import DATABASES, scratch_database

ROWS = """
INSERT INTO traffic_sources (id, name, template, external_id_param, cost_param,
    postback_events, postback_statuses, postback_status_names, archived, created_at, updated_at)
    VALUES (1, 's', 'custom', 'external_id', 'cost', '[]', '[]', '{}', false, :at, :at);
INSERT INTO offers (id, name, url, payout_micros, currency, archived, created_at, updated_at)
    VALUES (1, 'a', 'https://a.test/?c={clickid}', 0, 'USD', false, :at, :at),
           (2, 'b', 'https://b.test/?c={clickid}', 0, 'USD', false, :at, :at);
INSERT INTO campaigns (id, key, name, traffic_source_id, status, cost_model, cost_micros,
    created_at, updated_at)
    VALUES (1, 'k1', 'two offers', 1, 'active', 'none', 0, :at, :at),
           (2, 'k2', 'no offers', 1, 'paused', 'none', 0, :at, :at);
INSERT INTO campaign_offers (campaign_id, offer_id, weight, position)
    VALUES (1, 2, 30, 0), (1, 1, 70, 1);
"""


@pytest.fixture(params=DATABASES)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with scratch_database(request.param, tmp_path) as url:
        yield url


def test_campaign_offers_become_the_default_path(empty_database: str) -> None:
    settings = Settings(database_url=empty_database, _env_file=None)  # type: ignore[call-arg]
    upgrade(settings, "0006")
    engine = create_engine(normalize_url(empty_database))
    with engine.begin() as conn:
        for statement in ROWS.split(";"):
            if statement.strip():
                conn.execute(text(statement), {"at": "2026-01-01 00:00:00"})
    upgrade(settings)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, paths, rules FROM campaigns ORDER BY id")).all()
        tables = conn.execute(text("SELECT count(*) FROM lander_clicks")).scalar_one()
    engine.dispose()
    paths = [(r[0], _json(r[1]), _json(r[2])) for r in rows]
    assert paths == [
        (1, [{"name": "default", "weight": 100, "landers": [], "offers": [[2, 30], [1, 70]]}], []),
        (2, [], []),
    ]
    assert tables == 0


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def _fill(conn: Connection, table: Table) -> None:
    """One row of `table` with a plain value in every column that needs one: integer ids and
    foreign keys 1, texts 'x' (so a text foreign key meets the 'x' of its parent), times, false,
    empty JSON. Reflected, so it fits the schema of any revision."""
    row: dict[str, object] = {}
    for column in table.columns:
        kind = column.type.__class__.__name__.lower()
        if "json" in kind:
            row[column.name] = {}
        elif "int" in kind or "numeric" in kind:
            row[column.name] = 1
        elif "bool" in kind:
            row[column.name] = False
        elif "date" in kind or "time" in kind:
            row[column.name] = datetime(2026, 1, 1, tzinfo=UTC)
        elif column.nullable and column.name not in ("status", "state", "event"):
            continue
        elif column.name == "status":
            row[column.name] = "approved" if table.name != "campaigns" else "active"
        elif column.name == "state":
            row[column.name] = "delivered"
        else:
            row[column.name] = "x"
    conn.execute(table.insert().values(row))


FILLED = (
    "traffic_sources", "networks", "offers", "campaigns", "clicks", "conversions",
    "conversion_status_changes", "deliveries", "delivery_attempts", "postback_log",
)  # fmt: skip


def test_a_database_with_conversions_upgrades_from_before_this_release(
    empty_database: str,
) -> None:
    """Tables that others' foreign keys point at (conversions) are rebuilt on SQLite by later
    migrations: the upgrade must not fail on a database that has rows in them."""
    settings = Settings(database_url=empty_database, _env_file=None)  # type: ignore[call-arg]
    upgrade(settings, "0011")
    engine = create_engine(normalize_url(empty_database))
    tables = MetaData()
    tables.reflect(engine, only=FILLED)
    with engine.begin() as conn:
        for name in FILLED:
            _fill(conn, tables.tables[name])
    upgrade(settings)
    with engine.connect() as conn:
        counts = [conn.execute(text(f"SELECT count(*) FROM {n}")).scalar_one() for n in FILLED]
        if conn.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    engine.dispose()
    assert counts == [1] * len(FILLED)
