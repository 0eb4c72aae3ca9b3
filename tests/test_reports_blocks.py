"""The plan of rollup blocks, corrections included, counts every bucket of a report's range
once in its own period and nothing outside it; reports that use corrections equal the raw
rows around DST changes and in +05:45 and +05:30 zones."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine

from postback.kit.db import normalize_url
from postback.reports import queries
from postback.reports.aggregator import Aggregator
from postback.reports.blocks import Plan, cuts, plan
from postback.reports.periods import LEVELS, PER_DAY, boundary_test, key_py, q_of, spans_for
from tests.conftest import LiveServer, wipe
from tests.reportdata import make_rows
from tests.test_reports import _compare

ZONES = ["UTC", "Asia/Kathmandu", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe"]
UNITS = [[], ["day"], ["hour"], ["week"], ["month"], ["day", "week"]]
# New York springs forward on 2024-03-10 and falls back on 2024-11-03; Lord Howe moves by 30
# minutes on 2024-04-07.
STARTS = [datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 10, 29, tzinfo=UTC),
          datetime(2024, 4, 2, tzinfo=UTC)]  # fmt: skip


def _weights(p: Plan, key: Callable[[int], object]) -> dict[tuple[int, object], int]:
    """What the plan adds per (bucket, period): every rollup row spreads its sign over its
    buckets, in the period of the bucket its keys are taken at."""
    found: Counter[tuple[int, object]] = Counter()
    for term in p.terms:
        size = LEVELS[term.level]
        for a, b in term.ranges:
            for s in range(a, b, size):
                anchor = s if term.anchor is None else s // term.anchor[0] * term.anchor[0]
                at = s if term.anchor is None else anchor + term.anchor[1]
                for x in range(s, s + size):
                    found[x, key(at)] += term.sign
    return {at: n for at, n in found.items() if n}


@pytest.mark.parametrize("zone", ZONES)
def test_plan_counts_each_bucket_once_in_its_own_period(zone: str) -> None:
    rng = random.Random(zone)
    for base in STARTS:
        for units in UNITS:
            for _ in range(4):
                a = q_of(base) + rng.randrange(3 * PER_DAY)
                b = a + rng.randrange(1, 12 * PER_DAY)
                spans = spans_for(ZoneInfo(zone), a, b)

                def key(q: int, units: list[str] = units, spans: object = spans) -> object:
                    return tuple(key_py(u, q, spans) for u in units)  # type: ignore[arg-type]

                weights = (1, rng.choice([1, 4]), rng.choice([1, 30, 100]))
                inner = cuts(a, b, boundary_test(units, spans))
                # The rollups hold nothing from `empty` on: what the plan counts there is moot.
                empty = rng.choice([None, a + rng.randrange(b - a + 9)])
                top = rng.choice([2, 3])
                p = plan(a, b, inner, top, lambda w=weights: w, empty_from=empty)
                folded = b if empty is None else min(b, empty)
                found = {at: n for at, n in _weights(p, key).items() if at[0] < folded}
                assert found == {(x, key(x)): 1 for x in range(a, folded)}


def test_days_not_starting_at_utc_midnight_read_whole_utc_days() -> None:
    """A 30-day report by day in Kathmandu reads 30 UTC days whole and corrects their last
    5:45 (3 quarter and 5 hour rows), instead of 23 hour rows and 4 quarter rows per day; and
    the hour the range starts in whole, less its first quarter."""
    a = q_of(datetime(2024, 2, 29, 18, 15, tzinfo=UTC))
    b = a + 30 * PER_DAY
    spans = spans_for(ZoneInfo("Asia/Kathmandu"), a, b)
    p = plan(
        a, b, cuts(a, b, boundary_test(["day"], spans)), weigh=lambda: (1, 1, 1)
    )  # as dense as can be
    whole = [t for t in p.terms if t.level == 2]
    assert sum((y - x) // PER_DAY for t in whole for x, y in t.ranges) == 30
    fixes = [t for t in p.terms if t.sign < 0]
    assert sum(len(range(x, y, LEVELS[t.level])) for t in fixes for x, y in t.ranges) == 30 * 8 + 1


CASES = [
    ("Asia/Kathmandu", "day,campaign", {}),
    ("Asia/Kolkata", "day,country", {}),
    ("America/New_York", "day,offer", {"count_by": ["both"]}),
    ("America/New_York", "week,zone", {"include_test": ["true"]}),
    ("Asia/Kathmandu", "day", {"campaign": ["1,2"]}),
    ("Asia/Kolkata", "zone", {}),
]


def test_a_sparse_rollup_is_read_as_before() -> None:
    """Where a UTC day holds as many rows as its hours together, no day is read whole."""
    a = q_of(datetime(2024, 2, 29, 18, 15, tzinfo=UTC))
    spans = spans_for(ZoneInfo("Asia/Kathmandu"), a, a + 30 * PER_DAY)
    b = a + 30 * PER_DAY
    p = plan(a, b, cuts(a, b, boundary_test(["day"], spans)), weigh=lambda: (1, 4, 96))
    assert all(t.anchor is None and t.level < 2 for t in p.terms)


@pytest.mark.parametrize(("zone", "group", "extra"), CASES)
@pytest.mark.parametrize("dense", [True, False])
def test_corrected_reports_equal_the_raw_rows(  # type: ignore[no-untyped-def]
    server: LiveServer, monkeypatch, zone, group, extra, dense
) -> None:
    if dense:  # the test data is sparse: weigh the rollups as a busy tracker's would be
        monkeypatch.setattr(queries, "rows_per_block", lambda *_args: (1, 1, 1))
    wipe(server.settings)
    engine = create_engine(normalize_url(server.settings.database_url))
    rng = random.Random(f"{zone}{group}")
    try:
        for base in STARTS[:2]:  # New York's two DST changes, in one database
            make_rows(engine, rng, base, 300, 60, days=9)
        Aggregator(engine, rows=200).catch_up(STARTS[1] + timedelta(days=6, hours=7))
        ranges = [("2024-03-06", "2024-03-13"), ("2024-10-30", "2024-11-08")]
        ranges.append(
            (
                (STARTS[1] + timedelta(hours=19)).isoformat(),
                (STARTS[1] + timedelta(days=10, hours=6, minutes=30)).isoformat(),
            )
        )
        with engine.connect() as conn:
            for start, end in ranges:
                params = {"group_by": [group], "tz": [zone], "from": [start], "to": [end]}
                _compare(conn, {**params, **extra})
    finally:
        engine.dispose()
