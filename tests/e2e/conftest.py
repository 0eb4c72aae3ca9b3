"""Browser fixtures: Debian's Chromium driven by Playwright, against the live test server.

Never `playwright install`: the browser is the system's /usr/bin/chromium (`.ci/run` installs
it with apt-get; POSTBACK_CHROMIUM points elsewhere). Without it the browser tests are skipped
on a developer's machine and fail in CI.

Fixtures for page tests:
  browser      one Chromium for the tests of this folder
  page         a fresh tab (own cookies), 1280x800, base URL = the live server; not signed in
  admin        Credentials of a new admin user        admin_page   `page`, signed in as admin
  viewer       Credentials of a new viewer user       viewer_page  `page`, signed in as viewer
Helpers: tests/e2e/browser.py (sign_in, screenshot, check_accessibility), tests/traffic.py
(send_traffic), tests/signin.py (make_user, signed_in_client for plain HTTP).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import LiveServer
from tests.e2e.browser import sign_in
from tests.signin import Credentials, make_user

CHROMIUM = os.environ.get("POSTBACK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 10_000


# Package scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, and tests elsewhere that call asyncio.run() would fail meanwhile.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, live: LiveServer) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live.url, viewport=VIEWPORT, locale="en-US", timezone_id="UTC"
    )
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def admin(live: LiveServer) -> Credentials:
    return make_user(live, "admin")


@pytest.fixture
def viewer(live: LiveServer) -> Credentials:
    return make_user(live, "viewer")


@pytest.fixture
def admin_page(page: Page, admin: Credentials) -> Page:
    sign_in(page, admin)
    return page


@pytest.fixture
def viewer_page(page: Page, viewer: Credentials) -> Page:
    sign_in(page, viewer)
    return page
