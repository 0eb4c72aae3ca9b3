"""The dashboard in real headless Chromium: sign-in, the overview's numbers and pickers,
roles, CSRF, signing out and API keys. Each page is also screenshotted for the docs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from postback.users.tables import UserSession
from tests.conftest import LiveServer
from tests.e2e.browser import check_accessibility, screenshot
from tests.signin import Credentials
from tests.traffic import send_traffic


def _query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def _metric(page: Page, name: str) -> str:
    return page.locator(f'dd[data-metric="{name}"]').inner_text().split()[0]


def _sessions(live: LiveServer) -> int:
    with live.runtime.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(UserSession)) or 0)


def test_a_wrong_password_shows_an_error_and_signs_nobody_in(
    page: Page, live: LiveServer, admin: Credentials
) -> None:
    page.goto("/settings")
    assert urlsplit(page.url).path == "/login"
    assert _query(page)["next"] == ["/settings"]
    check_accessibility(page)
    screenshot(page, live, "login")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    assert urlsplit(page.url).path == "/login"
    assert page.get_by_label("Email").input_value() == admin.email
    assert _sessions(live) == 0
    assert not [c for c in page.context.cookies() if c["name"] == "postback_session"]


def test_signing_in_with_the_keyboard_alone_lands_on_the_page_asked_for(
    page: Page, live: LiveServer, admin: Credentials
) -> None:
    page.goto("/settings")
    expect(page.get_by_label("Email")).to_be_focused()  # autofocus on the sign-in form
    page.keyboard.type(admin.email)
    page.keyboard.press("Tab")
    page.keyboard.type(admin.password)
    page.keyboard.press("Enter")
    page.wait_for_url("**/settings")
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    # The first Tab reaches the skip link, which moves focus past the navigation.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    assert _sessions(live) == 1
    cookie = next(c for c in page.context.cookies() if c["name"] == "postback_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def test_overview_shows_the_clicks_and_conversions_sent_through_the_server(
    admin_page: Page, live: LiveServer, http: httpx.Client
) -> None:
    send_traffic(live, http, clicks=3, conversions=2, payout="2.5")
    page = admin_page
    page.goto("/")
    assert _metric(page, "clicks") == "3"
    assert _metric(page, "conversions") == "2"
    assert _metric(page, "revenue") == "5.00"
    assert _metric(page, "profit") == "5.00"
    assert _metric(page, "cr") == "66.67"
    # Last 7 days by default: one bar per day, today's holding the three clicks.
    bars = page.locator("#chart-clicks rect")
    expect(bars).to_have_count(7)
    today = datetime.now(UTC).date().isoformat()
    assert bars.last.locator("title").text_content() == f"{today}: 3"
    top = page.locator("#top-campaigns tbody tr")
    expect(top).to_have_count(1)
    assert top.first.inner_text().split("\t")[:3] == ["campaign", "3", "2"]
    check_accessibility(page)
    screenshot(page, live, "overview")
    # Every link in the navigation leads to a page; the pages still to come are not links.
    links = page.locator("nav[aria-label=Main] a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert {"/", "/settings"} <= set(hrefs)
    for href in hrefs:
        assert page.request.get(str(href)).status == 200, href
    expect(links.first).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("link", name="Campaigns", exact=True)).to_have_attribute(
        "href", "/campaigns"
    )


def test_range_and_time_zone_pickers_change_the_url_and_the_figures(
    admin_page: Page, live: LiveServer, http: httpx.Client
) -> None:
    send_traffic(live, http, clicks=2, conversions=1)
    now = datetime.now(UTC)
    page = admin_page
    page.goto("/")
    page.get_by_role("link", name="Yesterday").click()
    page.wait_for_url(re.compile(r"range=yesterday"))
    assert _metric(page, "clicks") == "0"
    expect(page.locator("#chart-clicks rect")).to_have_count(24)  # one day: per hour
    page.get_by_role("link", name="Last 30 days").click()
    page.wait_for_url(re.compile(r"range=last30"))
    assert _metric(page, "clicks") == "2"
    expect(page.locator("#chart-clicks rect")).to_have_count(30)

    # Today's UTC date in a zone where that date does not contain this moment.
    day = now.date().isoformat()
    far = "Pacific/Kiritimati" if now.hour >= 10 else "Pacific/Pago_Pago"
    page.get_by_label("From", exact=True).fill(day)
    page.get_by_label("To", exact=True).fill(day)
    page.get_by_label("Time zone", exact=True).select_option(far)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile("tz="))
    assert _query(page) == {"from": [day], "to": [day], "tz": [far]}
    assert _metric(page, "clicks") == "0"
    page.get_by_label("Time zone", exact=True).select_option("UTC")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile("tz=UTC"))
    assert _metric(page, "clicks") == "2"
    # The URL alone brings the same view back: bookmarkable.
    page.goto(page.url)
    assert _metric(page, "clicks") == "2"
    expect(page.get_by_label("Time zone", exact=True)).to_have_value("UTC")


def test_api_keys_are_created_shown_once_and_revoked_on_settings(
    admin_page: Page, live: LiveServer
) -> None:
    page = admin_page
    page.goto("/settings")
    page.get_by_label("Name of a new key").fill("zapier")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_label("New API key", exact=True).input_value()
    assert key.startswith("pb_")
    api = f"{live.url}/api/v1/api-keys"
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(api, headers=headers).status_code == 200
    page.goto("/settings")
    assert key not in page.content()  # shown once
    row = page.locator("#api-keys tbody tr", has_text="zapier")
    expect(row).to_contain_text("active")
    check_accessibility(page)
    screenshot(page, live, "settings")
    row.get_by_role("button", name="Revoke the key zapier").click()
    page.wait_for_url(re.compile(r"revoked=\d+"))
    expect(page.locator("#api-keys tbody tr", has_text="zapier")).to_contain_text("revoked")
    assert httpx.get(api, headers=headers).status_code == 401


def test_a_viewer_can_look_but_gets_403_on_a_change(viewer_page: Page, live: LiveServer) -> None:
    page = viewer_page
    page.goto("/settings")
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)
    # Send the form an admin would, with this viewer's own valid CSRF token.
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    with page.expect_navigation() as nav:
        page.evaluate(
            """(csrf) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = "/settings/api-keys";
                for (const [name, value] of [["csrf_token", csrf], ["name", "viewer-key"]]) {
                    const input = document.createElement("input");
                    input.type = "hidden"; input.name = name; input.value = value;
                    form.append(input);
                }
                document.body.append(form);
                form.submit();
            }""",
            csrf,
        )
    response = nav.value
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_contain_text("Forbidden")
    page.goto("/settings")
    expect(page.locator("#api-keys")).not_to_contain_text("viewer-key")


def test_a_form_sent_without_its_csrf_token_is_refused(admin_page: Page) -> None:
    page = admin_page
    page.goto("/settings")
    page.locator("form[action='/settings/api-keys'] input[name=csrf_token]").evaluate(
        "el => el.remove()"
    )
    page.get_by_label("Name of a new key").fill("forged")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Create key").click()
    response = nav.value
    assert response is not None and response.status == 403
    expect(page.locator(".detail")).to_contain_text("not sent from a page of this dashboard")
    page.goto("/settings")
    expect(page.locator("#api-keys")).not_to_contain_text("forged")


def test_signing_out_ends_the_session(admin_page: Page, live: LiveServer) -> None:
    page = admin_page
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    page.goto("/")
    assert urlsplit(page.url).path == "/login"
    with live.runtime.db.session() as session:
        revoked = session.scalars(select(UserSession.revoked_at)).all()
    assert len(revoked) == 1 and revoked[0] is not None
