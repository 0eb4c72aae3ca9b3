"""Migration 0019 keys the rollups on the fraud flags without losing a sum, both ways."""

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


def test_folded_manual_conversions_move_to_their_source_on_the_way_through_0019(
    empty_database: str,
) -> None:
    """0018's move of folded manual conversions folds with the current code: it runs once the
    rollups also have their flags (0019), so an upgrade from before both works."""
    settings = Settings(database_url=empty_database, _env_file=None)  # type: ignore[call-arg]
    upgrade(settings, "0017")
    engine = create_engine(normalize_url(empty_database))
    at = "2024-03-01 00:00:00"
    q = 1709251200 // 900
    with engine.begin() as conn:
        conn.execute(text(CONVERSION.replace(":at", f"'{at}'")))
        conn.execute(text(LEDGER.replace(":at", f"'{at}'")))
        for basis in (0, 1):  # a fold writes both: by conversion time and by click time
            conn.execute(text(FOLDED.replace(":q", str(q)).replace(":basis", str(basis))))
        conn.execute(text("UPDATE report_watermarks SET folded_until = '2024-03-02 00:00:00'"))
    upgrade(settings)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT source, flags, SUM(conversions), SUM(revenue_micros) FROM "
                "report_conversion_campaign WHERE level = 0 GROUP BY source, flags ORDER BY source"
            )
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("manual", 0, 2, 1400), ("postback", 0, 0, 0)]


CONVERSION = """INSERT INTO conversions (id, click_id, dedupe_key, created_at, updated_at,
    click_at, campaign_id, offer_id, network_id, traffic_source_id, event, txid, status,
    payout_micros, revenue_micros, commission_micros, cost_micros, original_amount,
    original_currency, fx_rate, fx_date, params, is_test, event_key) VALUES (
    '01HQX0000000000000000000AA', '01HQX0000000000000000000CC', '', :at, :at, :at, 1, NULL, NULL,
    1, 'conversion', NULL,
    'approved', 700, 700, 0, 0, '0.0007', 'USD', '1', NULL, '{}', false, 'conversion')"""
LEDGER = """INSERT INTO conversion_status_changes (conversion_id, at, from_status, to_status,
    payout_delta_micros, revenue_delta_micros, cost_delta_micros, postback_id, origin,
    api_key_id) VALUES ('01HQX0000000000000000000AA', :at, NULL, 'approved', 700, 700, 0, NULL,
    'manual', 1)"""
FOLDED = """INSERT INTO report_conversion_campaign (level, basis, q, is_test, campaign_id,
    traffic_source_id, offer_id, event, conversions, approved, pending, rejected, refunded,
    chargeback, revenue_micros, cost_micros) VALUES (0, :basis, :q, false, 1, 1, 0, 'conversion',
    1, 1, 0, 0, 0, 0, 700, 0)"""
