"""Reports equal the same question asked of the raw rows: generated clicks, conversions and
status changes, folded up to a random point, asked in random groupings, filters and zones."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from postback.kit.db import normalize_url
from postback.reports.aggregator import Aggregator
from postback.reports.schemas import parse_query
from postback.reports.service import run_report
from tests.conftest import LiveServer, wipe
from tests.reportdata import make_rows, truth

# Around DST changes: New York springs forward on 2024-03-10 and falls back on 2024-11-03;
# Lord Howe moves by 30 minutes on 2024-04-07; Kathmandu and Kolkata have :45 and :30 offsets.
BASES = [datetime(2024, 3, 8, tzinfo=UTC), datetime(2024, 11, 1, tzinfo=UTC),
         datetime(2024, 4, 5, tzinfo=UTC)]  # fmt: skip
ZONES = ["UTC", "Asia/Kathmandu", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe"]
DIMS = ["campaign", "offer", "lander", "network", "traffic_source", "country", "device", "os",
        "token.zone", "sub1", "day", "hour", "week", "month"]  # fmt: skip
FILTERS = [
    {},
    {"country": ["US,DE"]},
    {"campaign": ["1,2"]},
    {"zone": ["z1"]},
    {"device": ["mobile"]},
]


def _compare(conn, params: dict[str, list[str]]) -> None:  # type: ignore[no-untyped-def]
    query = parse_query(params, paginate=False)
    report = run_report(conn, query)
    expected_rows, expected_totals = truth(conn, query)
    got = {tuple(r[d] for d in query.group_by): r for r in report.rows}
    assert set(got) == set(expected_rows)
    for key, want in expected_rows.items():
        row = {k: v for k, v in got[key].items() if k in want}
        assert row == want, key
    assert report.totals == expected_totals


# derandomize: the same examples on every run, so CI never fails on a new draw; the edge
# cases found while developing are kept as explicit examples below.
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    seed=st.integers(0, 2**32),
    n_clicks=st.integers(0, 120),
    n_conv=st.integers(0, 40),
    fold_hours=st.one_of(st.none(), st.integers(0, 130)),
    group=st.lists(st.sampled_from(DIMS), max_size=3, unique=True),
    zone=st.sampled_from(ZONES),
    filters=st.sampled_from(FILTERS),
    count_by=st.sampled_from(["conversion", "click", "both"]),
    include_test=st.booleans(),
)
@example(  # an empty database, no group-by: no rows, zero totals
    seed=0,
    n_clicks=0,
    n_conv=0,
    fold_hours=0,
    group=[],
    zone="UTC",
    filters={},
    count_by="conversion",
    include_test=False,
)
@example(  # by lander: no rollup keeps it, so the whole range is folded from raw rows
    seed=7,
    n_clicks=80,
    n_conv=30,
    fold_hours=60,
    group=["lander", "campaign"],
    zone="Asia/Kolkata",
    filters={},
    count_by="both",
    include_test=False,
)
def test_report_equals_the_raw_rows(
    server: LiveServer,
    seed,
    n_clicks,
    n_conv,
    fold_hours,
    group,
    zone,
    filters,
    count_by,
    include_test,
) -> None:  # type: ignore[no-untyped-def]
    if zone == "Australia/Lord_Howe" and "hour" in group:
        group = [g for g in group if g != "hour"]  # the 30-minute hour is labelled at its start
    rng = random.Random(seed)
    base = rng.choice(BASES)
    wipe(server.settings)
    engine = create_engine(normalize_url(server.settings.database_url))
    try:
        make_rows(engine, rng, base, n_clicks, n_conv)
        if fold_hours is not None:
            Aggregator(engine, rows=17).catch_up(base + timedelta(hours=fold_hours))
        params = {
            "group_by": [",".join(group)], "tz": [zone], "count_by": [count_by],
            "from": [(base - timedelta(days=1)).date().isoformat()],
            "to": [(base + timedelta(days=5)).date().isoformat()],
            "include_test": ["true" if include_test else "false"], **filters,
        }  # fmt: skip
        if rng.random() < 0.3:  # a range that starts and ends inside the data, on quarter hours
            params["from"] = [(base + timedelta(hours=rng.randrange(40), minutes=45)).isoformat()]
            params["to"] = [(base + timedelta(hours=rng.randrange(50, 96), minutes=15)).isoformat()]
        with engine.connect() as conn:
            _compare(conn, params)
    finally:
        engine.dispose()
