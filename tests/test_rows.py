"""Hot-path rows encoded by hand (kit/rows.py) must be stored exactly as SQLAlchemy stores
them: reports compare timestamps as text on SQLite, and the ORM reads these rows back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert, select, text

from postback.clicks.repository import ClickRows
from postback.config import Settings
from postback.kit.db import make_engine
from postback.kit.migrate import upgrade
from postback.kit.rows import from_sqlite_time, sqlite_time
from postback.models import Click
from tests.test_writer import click_row

MOMENTS = [
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds: still written as .000000
    datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 1, 2, 8, 49, 5, 7, tzinfo=timezone(timedelta(hours=5, minutes=45))),
    datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),
    datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
]


def test_driver_rows_match_what_sqlalchemy_writes(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'rows.db'}", _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    engine = make_engine(settings)
    ours = [click_row(created_at=moment, is_test=True) for moment in MOMENTS]
    theirs = [click_row(created_at=moment, is_test=True) for moment in MOMENTS]
    with engine.begin() as conn:
        ClickRows()(conn, ours)  # one multi-row INSERT through the driver
        conn.execute(insert(Click), theirs)  # SQLAlchemy Core with its bind processors
    with engine.connect() as conn:
        raw = dict(
            conn.execute(
                text("SELECT id, created_at || '|' || tokens || '|' || is_test FROM clicks")
            ).all()
        )
        back = {c.id: c for c in conn.execute(select(Click)).all()}
    engine.dispose()
    for mine, reference in zip(ours, theirs, strict=True):
        time_, tokens, is_test = raw[mine["id"]].split("|")
        ref_time, ref_tokens, ref_is_test = raw[reference["id"]].split("|")
        assert (time_, is_test) == (ref_time, ref_is_test)
        assert json.loads(tokens) == json.loads(ref_tokens)  # compact JSON, same value
        assert raw[mine["id"]].split("|")[0] == sqlite_time(mine["created_at"])
        assert back[mine["id"]].created_at.timestamp() == mine["created_at"].timestamp()
        assert back[mine["id"]].tokens == {"zone": "7"}


def test_the_time_cache_answers_each_object_with_its_own_text() -> None:
    # Rows are encoded table by table, so the same moments come back in turns.
    fresh = [m.replace() for m in MOMENTS]  # equal values, other objects
    expected = [m.astimezone(UTC).isoformat(" ", "microseconds")[:26] for m in MOMENTS]
    for _ in range(3):
        assert [sqlite_time(m) for m in MOMENTS] == expected
        assert [sqlite_time(m) for m in reversed(fresh)] == expected[::-1]


@given(st.lists(st.datetimes(timezones=st.just(UTC)), min_size=1, max_size=20))
def test_the_second_cache_never_changes_the_text(moments: list[datetime]) -> None:
    # Neighbours in one second share the cached prefix; every text must still be exact.
    moments = [m for base in moments for m in (base, base.replace(microsecond=0))]
    for moment in moments:
        assert sqlite_time(moment) == moment.isoformat(" ", "microseconds")[:26]


def test_a_row_without_some_columns_stores_them_as_null() -> None:
    rows = ClickRows()
    full = click_row(created_at=MOMENTS[0])
    partial = {k: v for k, v in full.items() if k not in ("referrer", "lander_id")}
    encoded = dict(zip(rows.columns, rows.encode(partial, True), strict=True))
    assert encoded["referrer"] is None and encoded["lander_id"] is None
    assert encoded == {**dict(zip(rows.columns, rows.encode(full, True), strict=True)),
                       "referrer": None, "lander_id": None}  # fmt: skip


def test_a_time_read_back_is_written_back_as_the_same_text() -> None:
    text = "2026-11-23 03:31:02.000100"
    value = from_sqlite_time(text)
    assert value == datetime(2026, 11, 23, 3, 31, 2, 100, tzinfo=UTC)
    assert sqlite_time(value) == text
    assert sqlite_time(from_sqlite_time("2026-11-23T03:31:02.000100")) == text


def test_none_still_binds_as_null_through_the_driver(tmp_path: Path) -> None:
    import sqlite3

    import postback.kit.db  # noqa: F401  (registers the None adapter)

    db = sqlite3.connect(tmp_path / "null.db")
    db.execute("CREATE TABLE t (a, b)")
    db.execute("INSERT INTO t VALUES (?, ?)", (None, 1))
    assert db.execute("SELECT a IS NULL, typeof(a), b FROM t").fetchone() == (1, "null", 1)
    db.close()
