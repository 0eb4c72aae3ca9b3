"""What browser tests of dashboard pages share: signing in through the form, screenshots for
the docs, and a check of the accessibility basics every page must keep.

    from tests.e2e.browser import check_accessibility, screenshot, sign_in
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from playwright.sync_api import Page

from tests.conftest import LiveServer
from tests.signin import Credentials

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def sign_in(page: Page, creds: Credentials, next_path: str = "/") -> None:
    """Sign in through the form, as a person would; ends on `next_path`."""
    page.goto("/login?" + urlencode({"next": next_path}))
    page.get_by_label("Email").fill(creds.email)
    page.get_by_label("Password").fill(creds.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: urlsplit(url).path != "/login")
    here = urlsplit(page.url)
    assert here.path + (f"?{here.query}" if here.query else "") == next_path, page.url


def screenshot(page: Page, live: LiveServer, name: str) -> None:
    """docs/screenshots/<name>.png, from the SQLite run only (so each is written once per run),
    and only when asked with POSTBACK_SCREENSHOTS=1: a test run leaves the tree as it was."""
    if not live.settings.is_sqlite or os.environ.get("POSTBACK_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


# Runs in the page; returns what is wrong, one line per problem.
_A11Y = """() => {
  const problems = [];
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
  for (const tag of ["header", "main"]) {
    if (!document.querySelector(tag)) problems.push("no <" + tag + "> landmark");
  }
  const first = document.querySelector("a, button, input, select, textarea");
  if (!first || first.getAttribute("href") !== "#main") problems.push("no skip link first");
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || !visible(el)) continue;
    const named = el.labels.length || el.getAttribute("aria-label")
      || el.getAttribute("aria-labelledby");
    if (!named) problems.push("unlabelled field " + (el.name || el.id));
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    const name = (el.getAttribute("aria-label") || el.textContent || "").trim();
    if (!name) problems.push("nameless " + el.tagName.toLowerCase());
  }
  for (const th of document.querySelectorAll("table th")) {
    if (!th.getAttribute("scope")) problems.push("th without scope: " + th.textContent.trim());
  }
  for (const svg of document.querySelectorAll("svg")) {
    if (svg.getAttribute("role") !== "img" || !svg.querySelector("title")) {
      problems.push("svg without role=img and a title");
    }
  }
  return problems;
}"""


def check_accessibility(page: Page) -> None:
    """Landmarks, one h1, a skip link, labelled fields, named buttons, scoped table headers,
    charts with text: fails with the list of what is missing."""
    problems = page.evaluate(_A11Y)
    assert problems == [], f"{page.url}: {problems}"
