"""The report builder in real headless Chromium: build a report grouped by campaign and
country, sort it, export its CSV and check the file against the page; bookmarked URLs and bad
ones. Screenshotted for the docs."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.debugdata import campaigns_by_country
from tests.e2e.browser import check_accessibility, screenshot


def table(page: Page) -> list[dict[str, str]]:
    """The report's rows as {column key: text}."""
    out = []
    rows = page.locator("#report tbody tr")
    for i in range(rows.count()):
        cells = rows.nth(i).locator("[data-column]")
        out.append(
            {
                str(cells.nth(j).get_attribute("data-column")): cells.nth(j).inner_text().strip()
                for j in range(cells.count())
            }
        )
    return out


def test_a_report_by_campaign_and_country_exports_the_numbers_shown(
    admin_page: Page, live: LiveServer, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = campaigns_by_country(live, http, monkeypatch)
    page = admin_page
    page.goto("/reports")
    page.get_by_label("Group by 1").select_option("campaign")
    page.get_by_label("Group by 2").select_option("country")
    page.get_by_label("Sort by").select_option("revenue")
    page.get_by_role("button", name="Run report").click()
    page.wait_for_url(re.compile("group_by=campaign"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["group_by"] == ["campaign", "country"] and query["sort"] == ["revenue"]

    shown = table(page)
    got = {
        (r["campaign"], r["country"]): (int(r["clicks"]), int(r["conversions"]), r["revenue"])
        for r in shown
    }
    assert got == grid.expected
    assert [r["revenue"] for r in shown] == ["7.00", "4.00", "3.75", "0.00"]
    expect(page.locator("#report th[data-column=revenue]")).to_have_attribute(
        "aria-sort", "descending"
    )
    check_accessibility(page)
    page.evaluate("document.getElementById('result-title').scrollIntoView()")
    screenshot(page, live, "reports")

    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("report-")
    path = download.path()
    exported = list(csv.DictReader(io.StringIO(path.read_text())))
    assert len(exported) == len(shown)
    for on_page, in_file in zip(shown, exported, strict=True):
        assert on_page["campaign"] == in_file["campaign_name"]
        assert on_page["country"] == in_file["country"]
        for key in ("clicks", "conversions", "approved"):
            assert int(on_page[key].replace(",", "")) == int(in_file[key]), key
        for key in ("revenue", "cost", "profit"):
            assert Decimal(on_page[key].replace(",", "")) == Decimal(in_file[key]), key


def test_a_header_sorts_a_drill_down_filters_and_the_url_brings_it_back(
    admin_page: Page, live: LiveServer, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaigns_by_country(live, http, monkeypatch)
    page = admin_page
    page.goto("/reports?range=today&group_by=country&count_by=both")
    expect(page.locator("#report thead")).to_contain_text("Conversions (click time)")
    header = page.locator("#report thead").get_by_role("link", name="Conversions (conversion time)")
    header.click()
    page.wait_for_url(re.compile("sort=conversions"))
    assert [r["country"] for r in table(page)] == ["US", "GB", "DE"]  # 3, 1 and 0
    header.click()
    page.wait_for_url(re.compile("order=asc"))
    assert [r["country"] for r in table(page)] == ["DE", "GB", "US"]
    page.get_by_role("link", name="GB").click()
    page.wait_for_url(re.compile("filter_value=GB"))
    assert [r["country"] for r in table(page)] == ["GB"]
    bookmarked = page.url
    page.goto("/")
    page.goto(bookmarked)
    assert [r["country"] for r in table(page)] == ["GB"]
    expect(page.get_by_label("Filter 1: dimension")).to_have_value("country")
    expect(page.get_by_label("Filter 1: equals")).to_have_value("GB")
    expect(page.get_by_label("Count conversions")).to_have_value("both")


def test_a_bad_report_url_shows_what_is_wrong(admin_page: Page) -> None:
    page = admin_page
    answer = page.goto("/reports?group_by=planet&sort=happiness")
    assert answer is not None and answer.status == 422
    expect(page.get_by_role("alert").first).to_contain_text("'planet' is not a dimension")
    expect(page.locator("#report")).to_have_count(0)
    expect(page.get_by_role("button", name="Run report")).to_be_visible()
