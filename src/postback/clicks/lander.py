"""`GET /lp`: a lander's call-to-action, on to the offer chosen at the click.

The lander links to `/lp?clickid={clickid}` (its own URL got the click ID), or to a bare `/lp`,
which finds the click by the cookie the click redirect set. The visit is recorded once per
click in `lander_clicks`, so reports can tell lander views from click-throughs.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from typing import Any

from postback.clicks import repository, service
from postback.clicks.redirect import CLICK_COOKIE, HTML, NOT_FOUND_PAGE, OLD_LANDER_COOKIE
from postback.kit.asgi import (
    Receive,
    Scope,
    Send,
    header,
    query_pairs,
    send_redirect,
    send_response,
)
from postback.runtime import Runtime

log = logging.getLogger("postback.clicks")

_CLICK_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


async def handle_lander_click(rt: Runtime, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        await send_response(
            send, 405, b"method not allowed", extra_headers=[(b"allow", b"GET, HEAD")]
        )
        return
    clickid = click_id_of(scope)
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(None, _load, rt, clickid) if clickid else None
    if found is None:
        await send_response(send, 404, NOT_FOUND_PAGE, HTML)
        return
    row, offer_url = found
    if scope["method"] == "GET":
        try:
            await rt.writer.run_job(repository.lander_click_job(row))
        except Exception:
            # The visitor still reaches the offer; only the click-through count misses one.
            log.exception("lander click-through not recorded for %s", row["id"])
    await send_redirect(send, service.fill_click_url(offer_url, row, row["offer_id"], _now()))


def click_id_of(scope: Scope) -> str | None:
    """The click ID from ?clickid=, else from the click's cookie; None unless well formed."""
    query = scope["query_string"].decode("latin-1")
    value = next((v for k, v in query_pairs(query) if k == "clickid"), None)
    cookies = "" if value else header(scope, b"cookie") or ""
    for name in (CLICK_COOKIE, OLD_LANDER_COOKIE):
        if value:
            break
        prefix = f"{name}="
        value = next(
            (c.strip()[len(prefix) :] for c in cookies.split(";") if c.strip().startswith(prefix)),
            None,
        )
    value = value.strip().upper() if value else None
    return value if value and _CLICK_ID.fullmatch(value) else None


def _load(rt: Runtime, clickid: str) -> tuple[dict[str, Any], str] | None:
    with rt.db.reader.connect() as conn:
        return repository.click_for_lander(conn, clickid)


def _now() -> datetime:
    return datetime.now(UTC)
