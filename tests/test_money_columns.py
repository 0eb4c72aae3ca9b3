"""Money columns bound by hand on the hot paths take every value their schema type holds:
amounts past 2^31 micros, and each BIGINT column at its maximum, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import BigInteger, Integer, create_engine, select

from postback.clicks.repository import ClickRows
from postback.conversions import repository
from postback.kit.db import normalize_url
from postback.kit.ids import new_click_id
from postback.kit.money import AMOUNT_MAX_MICROS
from postback.models import (
    Click,
    Conversion,
    ConversionStatusChange,
    ReportConversionCampaign,
    ReportVisitor,
)
from postback.reports import queries
from postback.reports.aggregator import Aggregator, store_visitors, write
from postback.reports.dimensions import CLICK_FAMILIES, CONVERSION_FAMILIES
from postback.reports.facts import CLICK_METRICS, CONV_METRICS
from tests.conftest import LiveServer
from tests.factories import click, conversion_row, make_setup

INT8_MAX = 2**63 - 1
INT4_MAX = 2**31 - 1


def test_a_conversion_above_2_31_micros_is_folded(live: LiveServer, http: httpx.Client) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    resp = http.get(f"{setup.postback}&clickid={cid}&payout=2500")
    assert resp.text.startswith("OK accepted"), resp.text
    engine = create_engine(normalize_url(live.settings.database_url))
    try:
        until = datetime.now(UTC) + timedelta(seconds=1)
        Aggregator(engine, lag=timedelta(0)).catch_up(until)
        with engine.connect() as conn:
            assert queries.read_watermark(conn) == until
            table = ReportConversionCampaign.__table__
            revenue = conn.execute(
                select(table.c.revenue_micros).where(table.c.level == 0, table.c.basis == 0)
            ).scalar_one()
        assert revenue == 2_500_000_000
    finally:
        engine.dispose()


def _max_of(column: object) -> int:
    kind = column.type  # type: ignore[attr-defined]
    return INT8_MAX if isinstance(kind, BigInteger) else INT4_MAX


def _key_value(column: object) -> object:
    kind = column.type  # type: ignore[attr-defined]
    if isinstance(kind, Integer):
        return _max_of(column)
    return True if kind.python_type is bool else "x"


def test_every_rollup_column_takes_its_maximum(live: LiveServer) -> None:
    """Each rollup row written with every key and metric column at its type's maximum reads
    back unchanged: the arrays are cast to the schema's own types."""
    engine = create_engine(normalize_url(live.settings.database_url))
    try:
        with engine.begin() as conn:
            for families, metrics in ((CLICK_FAMILIES, CLICK_METRICS),
                                      (CONVERSION_FAMILIES, CONV_METRICS)):  # fmt: skip
                for family in families:
                    table = family.table
                    keys = [c for c in table.primary_key.columns]
                    key = tuple(_key_value(c) for c in keys)
                    values = [_max_of(table.c[m]) for m in metrics]
                    write(conn, table, metrics, {key: values})
                    got = conn.execute(select(*[table.c[m] for m in metrics])).one()
                    assert list(got) == values, table.name
    finally:
        engine.dispose()


def test_visitors_take_their_columns_maxima(live: LiveServer) -> None:
    engine = create_engine(normalize_url(live.settings.database_url))
    try:
        with engine.begin() as conn:
            store_visitors(conn, INT4_MAX, {(INT4_MAX, "203.0.113.9", INT4_MAX)})
            table = ReportVisitor.__table__
            assert conn.execute(select(table)).all() == [(INT4_MAX, "203.0.113.9", INT4_MAX)]
    finally:
        engine.dispose()


def test_a_conversion_at_the_amount_maximum_is_stored_and_folded(
    live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    top = AMOUNT_MAX_MICROS // 1_000_000
    resp = http.get(f"{setup.postback}&clickid={cid}&payout={top}")
    assert resp.text.startswith("OK accepted"), resp.text
    with live.runtime.db.session() as s:
        assert s.execute(select(Conversion.payout_micros)).scalar_one() == AMOUNT_MAX_MICROS
    engine = create_engine(normalize_url(live.settings.database_url))
    try:
        until = datetime.now(UTC) + timedelta(seconds=1)
        Aggregator(engine, lag=timedelta(0)).catch_up(until)
        with engine.connect() as conn:
            assert queries.read_watermark(conn) == until
    finally:
        engine.dispose()


def test_driver_inserts_take_every_money_column_at_its_maximum(live: LiveServer) -> None:
    """The hot paths' driver-level inserts (kit/rows.py) bind by the schema's types: a click,
    a conversion (single and multi-row) and a ledger row with BIGINT money at +-(2^63 - 1)."""
    now = datetime.now(UTC)
    cid = new_click_id()
    click_row = {
        "id": cid, "created_at": now, "campaign_id": INT4_MAX, "offer_id": INT4_MAX,
        "lander_id": None, "traffic_source_id": INT4_MAX, "external_id": None, "tokens": {},
        "cost_micros": INT8_MAX, "is_test": False, "flags": 0, "ip": None, "user_agent": None,
        "referrer": None, "language": None, "country": None, "device": None, "os": None,
        "browser": None,
    }  # fmt: skip
    money = {"payout_micros": INT8_MAX, "revenue_micros": INT8_MAX,
             "commission_micros": INT8_MAX, "cost_micros": INT8_MAX,
             "amount_micros": INT8_MAX}  # fmt: skip
    engine = create_engine(normalize_url(live.settings.database_url))
    try:
        with engine.begin() as conn:
            ClickRows()(conn, [click_row])
            one = conversion_row(cid, INT4_MAX, INT4_MAX, now, **money)
            two = conversion_row(cid, INT4_MAX, INT4_MAX, now, event="b", **money)
            assert repository.insert_conversion(conn, one)
            assert repository.insert_conversions(conn, [two]) == {two["id"]}
            repository.insert_status_change(conn, {
                "conversion_id": one["id"], "at": now, "from_status": None,
                "to_status": "approved", "payout_delta_micros": -INT8_MAX,
                "revenue_delta_micros": INT8_MAX, "cost_delta_micros": -INT8_MAX,
                "amount_delta_micros": -INT8_MAX, "postback_id": None, "origin": "postback",
                "api_key_id": INT4_MAX, "source": "postback",
            })  # fmt: skip
        with engine.connect() as conn:
            assert conn.execute(select(Click.cost_micros)).scalar_one() == INT8_MAX
            got = conn.execute(
                select(Conversion.payout_micros, Conversion.revenue_micros,
                       Conversion.commission_micros, Conversion.cost_micros,
                       Conversion.amount_micros)
            ).all()  # fmt: skip
            assert [tuple(r) for r in got] == [(INT8_MAX,) * 5] * 2
            deltas = conn.execute(
                select(ConversionStatusChange.payout_delta_micros,
                       ConversionStatusChange.revenue_delta_micros,
                       ConversionStatusChange.cost_delta_micros,
                       ConversionStatusChange.amount_delta_micros)
            ).one()  # fmt: skip
            assert tuple(deltas) == (-INT8_MAX, INT8_MAX, -INT8_MAX, -INT8_MAX)
    finally:
        engine.dispose()
