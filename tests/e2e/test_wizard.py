"""The integration wizard in real headless Chromium, the eight steps of an ad network's S2S
guide: pick the network, the postback type, copy the postback URL, check the offer URL, make a
test conversion, open its redirect, and watch the status turn VALID when the network's server
sends the postback — or INVALID, with the reason, when the postback is wrong."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.sync_api import Page, expect

from postback.integrations.schemas import CORRECT
from tests.conftest import LiveServer
from tests.e2e.browser import check_accessibility, screenshot

OFFER_PAGE = "<!doctype html><title>Offer</title><h1>Sweepstakes</h1><p>Thank you!</p>"


def _set_up(api: httpx.Client) -> dict[str, Any]:
    source = api.post("/api/v1/traffic-sources", json={"name": "Adsterra", "template": "adsterra"})
    network = api.post(
        "/api/v1/networks", json={"name": "My Binom", "template": "binom", "secret": "s3cr3t"}
    ).json()
    offer = api.post(
        "/api/v1/offers",
        json={
            "name": "Sweepstakes",
            "url": "https://offer.example/?externalid={clickid}",
            "network_id": network["id"],
        },
    ).json()
    body = {"name": "Push US", "traffic_source_id": source.json()["id"]}
    api.post("/api/v1/campaigns", json={**body, "offers": [{"offer_id": offer["id"]}]})
    return dict(network)


def _walk_to_the_test(page: Page, live: LiveServer, network: dict[str, Any]) -> str:
    """Steps 1 to 8 up to the test conversion; returns the postback URL step 3 generated."""
    # The offer's own site is not on this machine: the browser is served a page in its place.
    page.context.route(
        "https://offer.example/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=OFFER_PAGE),
    )
    page.goto("/wizard")
    check_accessibility(page)
    page.get_by_role("link", name="Binom", exact=True).click()
    page.get_by_role("button", name="Use this network").click()
    page.get_by_role("link", name="With the payout", exact=True).click()
    url = f"{live.url}/postback/{network['key']}?cnv_id={{externalid}}&payout={{payout}}"
    url += "&token=s3cr3t"
    expect(page.locator("#wizard-postback-url")).to_have_text(url)
    expect(page.locator("#token-match")).to_contain_text("externalid")
    page.get_by_role("button", name="Use this offer").click()
    expect(page.locator("#url-verdict")).to_have_text(CORRECT)
    page.get_by_label("Offer URL").fill("https://offer.example/?externalid=##SUB_ID_SHORT##")
    page.get_by_role("button", name="Check the URL").click()
    expect(page.locator("#url-verdict")).to_contain_text(
        "##SUB_ID_SHORT## is a ##X## placeholder (Adsterra style)"
    )
    page.get_by_label("Offer URL").fill("https://offer.example/?externalid={clickid}")
    page.get_by_role("button", name="Check the URL").click()
    expect(page.locator("#url-verdict")).to_have_text(CORRECT)
    page.get_by_role("button", name="Make a test conversion").click()
    page.wait_for_url(re.compile(r"click=[0-9A-Z]{26}"))
    expect(page.locator("#test-status-word")).to_have_text("PENDING")
    return url


def _open_the_offer(page: Page) -> str:
    """Opens the test click's redirect URL, as the user does; returns the click ID it carries."""
    clickid = parse_qs(urlsplit(page.url).query)["click"][0]
    with page.context.expect_page() as opened:
        page.locator("#test-redirect").click()
    offer = opened.value
    offer.wait_for_load_state()
    expect(offer.get_by_role("heading", level=1)).to_have_text("Sweepstakes")
    assert parse_qs(urlsplit(offer.url).query)["externalid"] == [clickid]
    offer.close()
    return clickid


def test_the_wizard_runs_to_valid_when_the_network_sends_the_postback(
    admin_page: Page, live: LiveServer, api: httpx.Client, http: httpx.Client
) -> None:
    network = _set_up(api)
    page = admin_page
    postback = _walk_to_the_test(page, live, network)
    check_accessibility(page)
    screenshot(page, live, "wizard")
    clickid = _open_the_offer(page)

    # The network's server fires the postback URL of step 3 with its macros filled.
    filled = postback.replace("{externalid}", clickid).replace("{payout}", "1.50")
    resp = http.get(filled)
    assert resp.status_code == 200 and resp.text.startswith("OK accepted"), resp.text

    # The panel refreshes by itself: no reload.
    expect(page.locator("#test-status-word")).to_have_text("VALID", timeout=10_000)
    expect(page.locator("#test-status")).to_contain_text("the integration works")
    check_accessibility(page)
    screenshot(page, live, "wizard-valid")
    # A reload (or a bookmark) of this step shows the same.
    page.reload()
    expect(page.locator("#test-status-word")).to_have_text("VALID")


def test_a_wrong_postback_turns_the_test_invalid_with_its_reason(
    admin_page: Page, live: LiveServer, api: httpx.Client, http: httpx.Client
) -> None:
    network = _set_up(api)
    page = admin_page
    postback = _walk_to_the_test(page, live, network)
    clickid = _open_the_offer(page)
    wrong = postback.replace("{externalid}", clickid).replace("{payout}", "1")
    resp = http.get(wrong.replace("token=s3cr3t", "token=guess"))
    assert resp.status_code == 403 and "bad_token" in resp.text
    # Without waiting for the script: the "Check again" button reloads the step.
    page.get_by_role("button", name="Check again").click()
    expect(page.locator("#test-status-word")).to_have_text("INVALID")
    expect(page.locator("#test-status-reason")).to_have_text("bad_token")
    check_accessibility(page)
    screenshot(page, live, "wizard-invalid")
