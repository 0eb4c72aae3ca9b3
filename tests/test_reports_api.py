"""GET /api/v1/reports and its export over real HTTP, `postback report`, and bad input."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from postback.kit.db import normalize_url
from tests.conftest import LiveServer
from tests.reportdata import make_rows
from tests.test_cli import run_cli

BASE = datetime(2024, 11, 1, tzinfo=UTC)
RANGE = {"from": "2024-10-31", "to": "2024-11-06", "tz": "America/New_York"}


@pytest.fixture
def data(live: LiveServer) -> LiveServer:
    engine = create_engine(normalize_url(live.settings.database_url))
    make_rows(engine, random.Random(5), BASE, 200, 60)
    engine.dispose()
    return live


def test_report_has_rows_and_totals_with_exact_money(api: httpx.Client, data: LiveServer) -> None:
    resp = api.get("/api/v1/reports", params={"group_by": "campaign,country", **RANGE})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["rows"] and set(body) >= {"rows", "totals"}
    row = body["rows"][0]
    assert {"campaign", "campaign_name", "country", "clicks", "unique_clicks", "conversions",
            "events", "approved", "pending", "rejected", "cr", "revenue", "cost", "profit",
            "roi", "epc", "cpa"} <= set(row)  # fmt: skip
    assert sum(r["clicks"] for r in body["rows"]) == body["totals"]["clicks"]
    assert isinstance(body["totals"]["revenue"], str)  # exact decimal text, never a float


def test_export_streams_csv_and_json(api: httpx.Client, data: LiveServer) -> None:
    params = {"group_by": "day", **RANGE}
    as_csv = api.get("/api/v1/reports/export", params={**params, "format": "csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    as_json = api.get("/api/v1/reports/export", params={**params, "format": "json"}).json()
    assert [r["day"] for r in rows] == [r["day"] for r in as_json["rows"]]
    assert sum(int(r["clicks"]) for r in rows) == as_json["totals"]["clicks"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "planet"}, "group_by"),
        ({"group_by": "day,campaign,country,os"}, "group_by"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"from": "2024-11-05", "to": "2024-11-01"}, "from"),
        ({"from": "2024-11-05T10:07"}, "from"),
        ({"colour": "red"}, "colour"),
        ({"sort": "happiness"}, "sort"),
    ],
)
def test_bad_questions_are_422_with_the_field(
    api: httpx.Client, live: LiveServer, params: dict[str, str], field: str
) -> None:
    resp = api.get("/api/v1/reports", params=params)
    assert resp.status_code == 422, resp.text
    assert field in {f["field"] for f in resp.json()["fields"]}


def test_reports_need_an_api_key(http: httpx.Client) -> None:
    assert http.get("/api/v1/reports").status_code == 401


def test_cli_report_prints_table_csv_and_json(data: LiveServer, tmp_path: Path) -> None:
    env = {"POSTBACK_DATABASE_URL": data.settings.database_url}
    args = ["report", "--group-by", "day", "--from", RANGE["from"], "--to", RANGE["to"],
            "--tz", RANGE["tz"]]  # fmt: skip
    table = run_cli(*args, cwd=tmp_path, env=env)
    assert table.returncode == 0, table.stderr
    assert "Total" in table.stdout
    as_csv = run_cli(*args, "--format", "csv", cwd=tmp_path, env=env)
    assert as_csv.stdout.startswith("day,clicks,")
    bad = run_cli("report", "--tz", "Nowhere/City", cwd=tmp_path, env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("error: tz:")
