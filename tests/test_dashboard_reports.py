"""The report builder over plain HTTP: the URL is the whole query; group-by, filters, sorting,
the two clocks, pages, CSV export, and bad input. Browser tests: tests/e2e/test_reports_page.py."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import httpx
import pytest

from postback.dashboard.reports_page import PAGE_SIZE
from tests.conftest import LiveServer
from tests.debugdata import Grid, campaigns_by_country
from tests.factories import click, make_setup
from tests.signin import make_user, signed_in_client


@pytest.fixture
def viewer(live: LiveServer) -> Iterator[httpx.Client]:
    with signed_in_client(live, make_user(live, "viewer")) as client:
        yield client


@pytest.fixture
def grid(live: LiveServer, http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> Grid:
    return campaigns_by_country(live, http, monkeypatch)


def rows(html: str) -> list[list[str]]:
    """The report table's body as text cells."""
    body = html.split('<table class="data" id="report">')[1].split("<tbody>")[1]
    body = body.split("</tbody>")[0]
    out = []
    for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)
        out.append([re.sub(r"<[^>]+>", "", c).strip() for c in cells])
    return out


def column(html: str, key: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(
        rf'<td class="num" data-column="{key}">(.*?)</td>', html.split("<tfoot>")[0], re.S
    )]  # fmt: skip


def test_grouped_by_campaign_and_country_with_the_numbers_sent(
    viewer: httpx.Client, grid: Grid
) -> None:
    resp = viewer.get(
        "/reports",
        params=[("range", "today"), ("group_by", "campaign"), ("group_by", "country"),
                ("group_by", ""), ("sort", "revenue"), ("order", "desc")],
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    got = {(r[0], r[1]): (int(r[2]), int(r[4]), r[9]) for r in rows(resp.text)}
    want = {k: (clicks, conv, rev) for k, (clicks, conv, rev) in grid.expected.items()}
    assert got == want
    # Sorted by revenue, highest first.
    assert column(resp.text, "revenue") == ["7.00", "4.00", "3.75", "0.00"]
    totals = resp.text.split("<tfoot>")[1]
    assert 'data-column="clicks">8<' in totals and 'data-column="revenue">14.75<' in totals


def test_filters_take_names_or_ids_and_a_value_can_be_drilled_into(
    viewer: httpx.Client, grid: Grid
) -> None:
    by_name = viewer.get(
        "/reports",
        params={"group_by": "country", "filter_by": "campaign", "filter_value": "winter PUSH"},
    )
    assert by_name.status_code == 200, by_name.text
    assert sorted(r[0] for r in rows(by_name.text)) == ["DE", "US"]
    by_id = viewer.get(
        "/reports",
        params=[("group_by", "country"), ("filter_by", "campaign"),
                ("filter_value", str(grid.second.campaign_id)),
                ("filter_by", "country"), ("filter_value", "US")],
    )  # fmt: skip
    assert [r[0] for r in rows(by_id.text)] == ["US"]
    # Each value links to the same report filtered to it.
    drill = re.search(r'<a href="(/reports\?[^"]+)" title="Only this Country">DE</a>', by_name.text)
    assert drill is not None
    narrowed = viewer.get(drill.group(1).replace("&amp;", "&"))
    assert [r[0] for r in rows(narrowed.text)] == ["DE"]


def test_the_two_clocks_side_by_side(viewer: httpx.Client, grid: Grid) -> None:
    resp = viewer.get("/reports", params={"group_by": "campaign", "count_by": "both"})
    assert resp.status_code == 200
    assert "Conversions (conversion time)" in resp.text
    assert "Conversions (click time)" in resp.text
    # Every conversion here came within minutes of its click: both clocks agree.
    assert column(resp.text, "conversions") == column(resp.text, "click_time_conversions")
    assert sorted(column(resp.text, "conversions")) == ["1", "3"]


def test_csv_export_has_every_row_of_the_report(viewer: httpx.Client, grid: Grid) -> None:
    query = "group_by=campaign&group_by=country&sort=clicks"
    resp = viewer.get("/reports/export.csv", params=query)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["content-disposition"].startswith('attachment; filename="report-')
    table = list(csv.DictReader(io.StringIO(resp.text)))
    got = {
        (r["campaign_name"], r["country"]): (int(r["clicks"]), int(r["conversions"])) for r in table
    }
    assert got == {k: (c, n) for k, (c, n, _rev) in grid.expected.items()}


def test_report_pages_of_fifty_rows(
    live: LiveServer, http: httpx.Client, viewer: httpx.Client
) -> None:
    setup = make_setup(live)
    for zone in range(PAGE_SIZE + 4):
        click(http, setup, zone=f"z{zone:03d}")
    first = viewer.get(
        "/reports", params={"group_by": "zone", "sort": "token.zone", "order": "asc"}
    )
    assert first.status_code == 200
    assert f"{PAGE_SIZE + 4} rows" in first.text
    assert [r[0] for r in rows(first.text)] == [f"z{i:03d}" for i in range(PAGE_SIZE)]
    assert "Page 1 of 2" in first.text
    following = re.search(r'href="(/reports\?[^"]+)" rel="next"', first.text)
    assert following is not None
    second = viewer.get(following.group(1).replace("&amp;", "&"))
    assert [r[0] for r in rows(second.text)] == [
        f"z{i:03d}" for i in range(PAGE_SIZE, PAGE_SIZE + 4)
    ]
    assert 'rel="next"' not in second.text and 'rel="prev"' in second.text
    export = viewer.get("/reports/export.csv", params={"group_by": "zone"})
    assert len(list(csv.DictReader(io.StringIO(export.text)))) == PAGE_SIZE + 4


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"group_by": "planet"}, "&#39;planet&#39; is not a dimension to group by"),
        ([("group_by", "country"), ("group_by", "country")], "Country is chosen twice"),
        ({"sort": "happiness"}, "sort: &#39;happiness&#39; is not a metric"),
        ({"order": "sideways"}, "order must be asc or desc"),
        ({"count_by": "moon"}, "count_by must be one of"),
        ({"page": "0"}, "page must be a whole number"),
        ({"page": "ten"}, "page must be a whole number"),
        ({"from": "2024-02-30", "to": "2024-03-01"}, "from and to must be dates"),
        ({"from": "2020-01-01", "to": "2024-01-01"}, "at most 400 days"),
        ({"tz": "Mars/Olympus"}, "is not a time zone"),
        ({"filter_by": "campaign", "filter_value": "nobody"}, "no campaign is named"),
        (
            {"filter_by": "day", "filter_value": "1"},
            "&#39;day&#39; is not a dimension to filter on",
        ),
        ({"filter_by": "country", "filter_value": ""}, "give a value for Country"),
        ({"filter_by": "", "filter_value": "US"}, "&#39;(nothing)&#39; is not a dimension"),
        ({"colour": "red"}, "unknown parameters: colour"),
        ({"group_by": "country\x00"}, "is not a dimension"),
    ],
)
def test_bad_report_queries_are_4xx_pages_that_say_what_is_wrong(
    viewer: httpx.Client, query: object, message: str
) -> None:
    resp = viewer.get("/reports", params=query)  # type: ignore[arg-type]
    assert 400 <= resp.status_code < 500, resp.text
    assert message in resp.text
    assert '<form method="get" action="/reports"' in resp.text
    export = viewer.get("/reports/export.csv", params=query)  # type: ignore[arg-type]
    assert 400 <= export.status_code < 500
    assert "text/html" in export.headers["content-type"]


def test_four_groups_are_refused(viewer: httpx.Client) -> None:
    query = "&".join(f"group_by={d}" for d in ("campaign", "country", "os", "device"))
    resp = viewer.get("/reports", params=query)
    assert resp.status_code == 422
    assert "group by at most 3 dimensions" in resp.text


def test_landers_group_and_filter_like_the_other_config_rows(
    live: LiveServer, http: httpx.Client, viewer: httpx.Client
) -> None:
    click(http, make_setup(live))
    grouped = viewer.get("/reports", params={"group_by": "landing_page"})
    assert grouped.status_code == 200
    assert [r[0] for r in rows(grouped.text)] == ["(none)"]
    unknown = viewer.get("/reports", params={"filter_by": "lander", "filter_value": "nobody"})
    assert unknown.status_code == 422 and "no lander is named" in unknown.text
