"""The benchmark's yardstick: the least an ASGI server can do for a redirect.

Every request gets a `302` with a fixed Location, no body and no I/O, so the req/s it reaches
under the same uvicorn settings is the ceiling the click path is compared against.
"""

from __future__ import annotations

from typing import Any

_START = {
    "type": "http.response.start",
    "status": 302,
    "headers": [
        (b"location", b"https://offer.example/landing?cid=01J0000000000000000000000"),
        (b"cache-control", b"no-store"),
        (b"content-length", b"0"),
    ],
}
_BODY = {"type": "http.response.body", "body": b""}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await send(_START)
    await send(_BODY)
