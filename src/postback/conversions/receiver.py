"""Inbound postbacks (work in progress)."""

from __future__ import annotations

from postback.kit.asgi import Receive, Scope, Send, send_response
from postback.runtime import Runtime


def is_postback_path(path: str) -> bool:
    return path == "/postback" or path.startswith(("/postback/", "/name/", "/code/"))


async def handle_postback(rt: Runtime, scope: Scope, receive: Receive, send: Send) -> None:
    await send_response(send, 503, b"not yet")
