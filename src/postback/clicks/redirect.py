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
LANDER_COOKIE = "pb_click"
LANDER_COOKIE_AGE = 30 * 86400


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
    cookie = lander_cookie(click.row["id"], rt.settings.public_url) if click.lander else None
    await send_redirect(send, click.location, extra_headers=cookie)


def lander_cookie(clickid: str, public_url: str) -> list[tuple[bytes, bytes]]:
    """Remembers the click for a lander whose call-to-action links to a bare /lp."""
    secure = "; Secure" if public_url.startswith("https:") else ""
    value = f"{LANDER_COOKIE}={clickid}; Path=/lp; Max-Age={LANDER_COOKIE_AGE}; HttpOnly"
    return [(b"set-cookie", f"{value}; SameSite=Lax{secure}".encode())]


async def _not_routable(send: Send, route: CampaignRoute | None) -> None:
    if route is not None and route.fallback_url:
        await send_redirect(send, route.fallback_url)
    else:
        await send_response(send, 404, NOT_FOUND_PAGE, HTML)
