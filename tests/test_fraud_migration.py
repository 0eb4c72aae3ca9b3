"""Migration 0018 keys the rollups on the fraud flags without losing a sum, both ways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from postback.config import Settings
from postback.kit.db import normalize_url
from postback.kit.migrate import alembic_config, upgrade
from tests.conftest import DATABASES, scratch_database

CLICK_ROW = """INSERT INTO report_click_campaign (level, q, is_test, campaign_id, traffic_source_id,
    offer_id, clicks, unique_clicks, cost_micros) VALUES (0, 100, false, 1, 1, 2, 5, 4, 30)"""
CONVERSION_ROW = """INSERT INTO report_conversions (level, q, is_test, campaign_id,
    traffic_source_id, basis, offer_id, country, device, os, browser, event, conversions,
    approved, pending, rejected, refunded, chargeback, revenue_micros, cost_micros)
    VALUES (0, 100, false, 1, 1, 0, 2, 'GB', 'mobile', 'iOS', 'Safari', 'lead',
    3, 3, 0, 0, 0, 0, 900, 0)"""


@pytest.fixture(params=DATABASES)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with scratch_database(request.param, tmp_path) as url:
        yield url


def test_rollup_rows_keep_their_sums_under_flags_0_and_fold_back_on_downgrade(
    empty_database: str,
) -> None:
    settings = Settings(database_url=empty_database, _env_file=None)  # type: ignore[call-arg]
    upgrade(settings, "0015")
    engine = create_engine(normalize_url(empty_database))
    with engine.begin() as conn:
        conn.execute(text(CLICK_ROW))
        conn.execute(text(CONVERSION_ROW))
    upgrade(settings)
    with engine.begin() as conn:
        clicks = conn.execute(text("SELECT flags, clicks FROM report_click_campaign")).all()
        convs = conn.execute(text("SELECT flags, revenue_micros FROM report_conversions")).all()
        assert [tuple(r) for r in clicks] == [(0, 5)]
        assert [tuple(r) for r in convs] == [(0, 900)]
        # The same key with a flag is another row now.
        conn.execute(text(CLICK_ROW.replace("offer_id,", "offer_id, flags,").replace(
            "2, 5, 4, 30)", "2, 1, 1, 1, 0)"
        )))  # fmt: skip
        assert conn.execute(text("SELECT count(*) FROM report_click_campaign")).scalar() == 2
        conn.execute(text("UPDATE clicks SET flags = 1 WHERE flags = 0"))  # columns exist
    engine.dispose()
    command.downgrade(alembic_config(settings), "0015")
    engine = create_engine(normalize_url(empty_database))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT clicks, unique_clicks FROM report_click_campaign")).all()
        assert [tuple(r) for r in rows] == [(6, 5)]
    engine.dispose()
