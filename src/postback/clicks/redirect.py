"""The click redirect, `GET /c/{campaign_key}`: resolve, record durably, redirect.

A raw ASGI handler, no framework: see kit/asgi.py for why.
"""

from __future__ import annotations

import logging

from postback.clicks import repository, service
from postback.clicks.schemas import CampaignRoute
from postback.clicks.visitor import visitor_from
from postback.kit.asgi import (
    Receive,
    Scope,
    Send,
    client_ip,
    header,
    send_redirect,
    send_response,
)
from postback.runtime import Runtime

log = logging.getLogger("postback.clicks")

NOT_FOUND_PAGE = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Link not found</title>"
    b"<h1>Link not found</h1><p>This link is not active.</p></html>"
)
UNAVAILABLE_PAGE = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Try again</title>"
    b"<h1>Temporarily unavailable</h1><p>Please try again in a moment.</p></html>"
)
HTML = b"text/html; charset=utf-8"
# The first-party cookie that remembers the click on the tracker's domain, for a lander's bare
# /lp and for the conversion pixel (conversions/pixel_receiver.py). HttpOnly: the pixel's
# snippet never reads it (it keeps its own on the page's domain); the browser sends it.
CLICK_COOKIE = "pb_clickid"
# Its name before 0.x: the lander still reads it from visitors who clicked before the upgrade.
OLD_LANDER_COOKIE = "pb_click"


async def get_route(rt: Runtime, key: str) -> CampaignRoute | None:
    route: CampaignRoute | None = await rt.routes.fetch(key, lambda k: _load_route(rt, k))
    return route


def _load_route(rt: Runtime, key: str) -> CampaignRoute | None:
    with rt.db.reader.connect() as conn:
        return repository.load_route(conn, key)


async def handle_click(rt: Runtime, scope: Scope, receive: Receive, send: Send) -> None:
    method = scope["method"]
    if method not in ("GET", "HEAD"):
        await send_response(
            send, 405, b"method not allowed", extra_headers=[(b"allow", b"GET, HEAD")]
        )
        return
    key = scope["path"][3:]
    route = None
    if key and len(key) <= 32 and "/" not in key:
        # A fresh cached route is read without a coroutine; the rest takes the loading path.
        found, route = rt.routes.get(key)
        if not found:
            route = await get_route(rt, key)
    if route is None or not route.active or not route.routable:
        await _not_routable(send, route)
        return
    tokens = service.tokens_from_query(scope["query_string"].decode("latin-1"))
    visitor = visitor_from(
        client_ip(scope, rt.trusted_proxies),
        header(scope, b"user-agent"),
        header(scope, b"referer"),
        header(scope, b"accept-language"),
    )
    click = service.new_click(route, tokens, visitor)
    assert click.location is not None
    if method == "GET":
        try:
            await rt.writer.insert_row(click.row)
        except Exception:
            # The redirect promises a stored click; without one the conversion could never be
            # attributed, so the visitor gets an honest error instead of a silent loss.
            log.exception("click not stored for campaign %s", key)
            await send_response(send, 503, UNAVAILABLE_PAGE, HTML, [(b"retry-after", b"1")])
            return
    cookie = None
    if method == "GET":  # a HEAD stores no click: nothing to remember
        cookie = [(b"set-cookie", COOKIE_PREFIX + click.row["id"].encode() + rt.cookie_suffix)]
    await send_redirect(send, click.location, extra_headers=cookie)


COOKIE_PREFIX = f"{CLICK_COOKIE}=".encode()


async def _not_routable(send: Send, route: CampaignRoute | None) -> None:
    if route is not None and route.fallback_url:
        await send_redirect(send, route.fallback_url)
    else:
        await send_response(send, 404, NOT_FOUND_PAGE, HTML)
