"""The debugger pages in real headless Chromium: find a refused postback and read why, replay
it as a dry run, follow a conversion's status history, replay a delivery to a real receiver.
Each page is also screenshotted for the docs."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from postback.models import Conversion, Delivery, PostbackLogEntry
from tests.conftest import LiveServer
from tests.debugdata import UNKNOWN_CLICK, convert, dead_delivery, refused_postback, run_worker
from tests.e2e.browser import check_accessibility, screenshot
from tests.factories import click, make_setup
from tests.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def rows_of(live: LiveServer) -> tuple[int, int, int]:
    with live.runtime.db.session() as s:
        return tuple(  # type: ignore[return-value]
            int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in (PostbackLogEntry, Conversion, Delivery)
        )


def test_a_refused_postback_is_found_in_the_log_with_its_reason_and_replayed_as_a_dry_run(
    admin_page: Page, live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live)
    convert(http, setup, click(http, setup), "2.5")
    refused_postback(http, setup)  # a click ID nobody clicked
    page = admin_page
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Postback log").click()
    page.wait_for_url("**/postback-log")
    expect(page.locator("#postback-log tbody tr")).to_have_count(2)
    page.get_by_label("Reason").select_option("unknown_click")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"reason=unknown_click"))
    row = page.locator("#postback-log tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".reason code")).to_have_text("unknown_click")
    expect(row.locator(".reason-text")).to_contain_text("No click has this click ID here.")
    expect(row).to_contain_text(UNKNOWN_CLICK)
    check_accessibility(page)
    screenshot(page, live, "postback-log")

    row.get_by_role("link", name=re.compile("Details")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Postback")
    expect(page.locator("#outcome")).to_contain_text("HTTP 404")
    expect(page.locator("#outcome .reason-text")).to_contain_text("No click has this click ID")
    expect(page.locator("#raw-request")).to_contain_text(f"clickid={UNKNOWN_CLICK}")
    before = rows_of(live)
    page.get_by_role("button", name="Replay as a dry run").click()
    result = page.get_by_role("status")
    expect(result).to_contain_text("Today this postback would be: unknown_click")
    steps = page.locator("#replay-steps tbody tr")
    verdicts = {
        steps.nth(i).locator("th code").inner_text(): steps.nth(i).locator("td .badge").inner_text()
        for i in range(steps.count())
    }
    assert verdicts["receive"] == "pass"
    assert verdicts["network_from_path"] == "pass"
    assert verdicts["find_click"] == "refused"
    assert verdicts["check_window"] == "skipped"
    expect(page.locator("#replay-steps tr.refused")).to_contain_text("No click has this click ID")
    assert rows_of(live) == before  # a dry run writes nothing
    check_accessibility(page)
    page.evaluate("document.getElementById('replay-title').scrollIntoView()")
    screenshot(page, live, "postback-replay")


def test_a_conversion_shows_its_status_history_and_its_click_the_whole_story(
    admin_page: Page, live: LiveServer, http: httpx.Client
) -> None:
    setup = make_setup(live, network={"duplicate_mode": "update"})
    cid = click(http, setup, zone="42")
    convert(http, setup, click(http, setup), "1")
    conversion_id = convert(http, setup, cid, "5", txid="order-7")
    convert(http, setup, cid, "5", txid="order-7", status="rejected")
    page = admin_page
    page.goto("/conversions")
    expect(page.locator("#conversions tbody tr")).to_have_count(2)
    page.get_by_label("Status").select_option("rejected")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile("status=rejected"))
    expect(page.locator("#conversions tbody tr")).to_have_count(1)
    check_accessibility(page)
    screenshot(page, live, "conversions")

    page.get_by_role("link", name=conversion_id).click()
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(0).locator("th")).to_have_text("new → approved")
    expect(history.nth(1).locator("th")).to_have_text("approved → rejected")
    expect(history.nth(1).locator("td").nth(2)).to_have_text("-5.00")
    expect(page.locator("#postbacks tbody tr")).to_have_count(2)
    check_accessibility(page)
    screenshot(page, live, "conversion")

    page.get_by_role("link", name="Its click").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(cid)
    expect(page.locator("#tokens")).to_contain_text("42")
    expect(page.locator("#click-conversions tbody tr")).to_have_count(1)
    expect(page.locator("#click-postbacks tbody tr")).to_have_count(2)
    check_accessibility(page)
    screenshot(page, live, "click")

    page.goto("/clicks")
    expect(page.locator("#clicks tbody tr")).to_have_count(2)
    page.get_by_label("Click ID").fill(cid.lower())
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#clicks tbody tr")).to_have_count(1)
    page.goto("/clicks")
    check_accessibility(page)
    screenshot(page, live, "clicks")


def test_a_dead_delivery_is_replayed_and_reaches_the_receiver(
    admin_page: Page, live: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    delivery = dead_delivery(live, http, receiver.url, "flaky")  # the first try got a 500
    page = admin_page
    page.goto("/deliveries")
    page.get_by_label("State").select_option("dead")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile("state=dead"))
    expect(page.locator("#deliveries tbody tr")).to_have_count(1)
    check_accessibility(page)
    screenshot(page, live, "deliveries")

    page.get_by_role("link", name=delivery.id).click()
    expect(page.locator("#state .badge")).to_have_text("dead")
    expect(page.locator("#attempt-log tbody tr")).to_have_count(1)
    expect(page.locator("#attempt-log")).to_contain_text("down for maintenance")
    page.get_by_role("button", name="Replay now").click()
    expect(page.get_by_role("status")).to_contain_text("Queued again")
    expect(page.locator("#state .badge")).to_have_text("pending")
    assert run_worker(live) == 1
    page.reload()
    expect(page.locator("#state .badge")).to_have_text("delivered")
    attempts = page.locator("#attempt-log tbody tr")
    expect(attempts).to_have_count(2)
    expect(attempts.nth(1)).to_contain_text("200")
    assert len(receiver.hits) == 2 and receiver.hits[1].query == "ext=EXT1&p=2.5"
    check_accessibility(page)
    screenshot(page, live, "delivery")


def test_viewers_read_the_debugger_but_cannot_replay(
    viewer_page: Page, live: LiveServer, http: httpx.Client
) -> None:
    refused_postback(http, make_setup(live))
    page = viewer_page
    page.goto("/postback-log")
    page.get_by_role("link", name=re.compile("Details")).click()
    expect(page.get_by_text("Only admins can replay.")).to_be_visible()
    expect(page.get_by_role("button", name="Replay as a dry run")).to_have_count(0)
    # The form's action refuses a viewer even with a valid CSRF token.
    token = page.locator("input[name=csrf_token]").first.input_value()
    action = page.url + "/replay"
    answer = page.request.post(action, form={"csrf_token": token})
    assert answer.status == 403
    assert "can look but not change" in answer.text()
