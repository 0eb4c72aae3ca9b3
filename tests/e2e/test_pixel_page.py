"""The hybrid setup in a real browser: a shop's pages (served here, on another port, like a
lander) load our pixel after a click through the tracking link; the conversion appears as a
provisional one from the pixel, then the network's postback supersedes it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page
from sqlalchemy import select, update

from postback.kit.ratelimit import RateLimiter
from postback.models import Campaign, Conversion, ConversionStatusChange, Offer
from tests.conftest import LiveServer
from tests.factories import Setup, make_setup

LANDING = """<!doctype html><html><head><title>Shop</title>
<script src="{tracker}/pixel.js" async></script></head>
<body><h1>Shop</h1><a href="/thanks">Buy</a></body></html>"""
# The snippet on the thank-you page: no click ID in this URL, the snippet's cookie has it.
THANKS = """<!doctype html><html><head><title>Thanks</title>
<script src="{tracker}/pixel.js" data-event="sale" data-txid="ORD-7"></script></head>
<body><h1>Thank you</h1></body></html>"""
# A bare image pixel: the click is found by the cookie the click set on the tracker's domain.
IMAGE = """<!doctype html><html><head><title>Lead</title></head>
<body><h1>Lead</h1><img src="{tracker}/pixel?event=lead" width="1" height="1" alt="">
</body></html>"""


class Shop:
    def __init__(self, tracker: str) -> None:
        pages = {"/landing": LANDING, "/thanks": THANKS, "/lead": IMAGE}
        self.pages = {path: html.format(tracker=tracker).encode() for path, html in pages.items()}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body or b"not found")

        return Handler


@pytest.fixture
def shop(live: LiveServer) -> Iterator[Shop]:
    running = Shop(live.url)
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    kept = live.runtime.pixel_limiter
    live.runtime.pixel_limiter = RateLimiter(0, 1)
    yield running
    live.runtime.pixel_limiter = kept
    running.server.shutdown()
    running.server.server_close()


def shop_campaign(live: LiveServer, shop: Shop) -> Setup:
    setup = make_setup(live, offer={"payout_micros": 3_000_000})
    landing = f"{shop.url}/landing?clickid={{clickid}}"
    with live.runtime.db.session() as s:
        s.execute(update(Offer).where(Offer.id == setup.offer_id).values(url=landing))
        s.execute(
            update(Campaign).where(Campaign.id == setup.campaign_id).values(pixel_enabled=True)
        )
    return setup


def conversions(live: LiveServer) -> list[tuple[Any, ...]]:
    with live.runtime.db.session() as s:
        query = select(
            Conversion.event, Conversion.source, Conversion.status, Conversion.payout_micros,
            Conversion.txid,
        ).order_by(Conversion.id)  # fmt: skip
        return [tuple(r) for r in s.execute(query).all()]


def test_the_thank_you_page_pixel_then_the_postback(
    page: Page, live: LiveServer, shop: Shop
) -> None:
    setup = shop_campaign(live, shop)
    page.goto(f"{live.url}/c/{setup.campaign_key}")
    page.wait_for_url(f"{shop.url}/landing?clickid=*")
    clickid = page.url.rsplit("=", 1)[1]
    page.wait_for_function("() => typeof window.postbackPixel === 'function'")
    with page.expect_response(lambda r: "/pixel?" in r.url) as fired:
        page.get_by_role("link", name="Buy").click()
    response = fired.value
    assert response.headers["x-postback-result"] == "accepted"
    assert f"clickid={clickid}" in response.url
    assert conversions(live) == [("sale", "pixel", "pending", 3_000_000, "ORD-7")]

    answer = httpx.get(
        f"{live.url}{setup.postback}&clickid={clickid}&event=sale&txid=ORD-7&payout=4.5"
    )
    assert answer.text.startswith("OK accepted")
    assert conversions(live) == [("sale", "postback", "approved", 4_500_000, "ORD-7")]
    with live.runtime.db.session() as s:
        origins = s.execute(
            select(ConversionStatusChange.origin, ConversionStatusChange.to_status).order_by(
                ConversionStatusChange.id
            )
        ).all()
    assert [tuple(o) for o in origins] == [
        ("pixel", "pending"),
        ("postback", "superseded"),
        ("postback", "approved"),
    ]
    # Reloading the thank-you page fires the pixel again: it changes nothing.
    with page.expect_response(lambda r: "/pixel?" in r.url) as again:
        page.reload()
    assert again.value.headers["x-postback-result"] == "duplicate"
    assert conversions(live) == [("sale", "postback", "approved", 4_500_000, "ORD-7")]


def test_an_image_pixel_finds_the_click_by_the_trackers_cookie(
    page: Page, live: LiveServer, shop: Shop
) -> None:
    setup = shop_campaign(live, shop)
    page.goto(f"{live.url}/c/{setup.campaign_key}")
    page.wait_for_url(f"{shop.url}/landing?clickid=*")
    with page.expect_response(lambda r: "/pixel?event=lead" in r.url) as fired:
        page.goto(f"{shop.url}/lead")
    assert fired.value.headers["x-postback-result"] == "accepted"
    assert fired.value.headers["content-type"] == "image/gif"
    assert conversions(live) == [("lead", "pixel", "pending", 3_000_000, None)]
