"""Our own CSS and JS, read once at import and served under /static/ with cache headers.

Pages link `/static/<name>?v=<content hash>`: such a URL never changes meaning, so browsers may
keep it for a year; an unversioned request gets a short max-age. Only files in static/ exist.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request, Response

from postback.kit.errors import NotFound

STATIC = Path(__file__).resolve().parent / "static"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str


def _load() -> dict[str, Asset]:
    assets = {}
    for path in sorted(STATIC.iterdir()):
        if path.suffix in _TYPES:
            body = path.read_bytes()
            version = hashlib.sha256(body).hexdigest()[:12]
            assets[path.name] = Asset(body, _TYPES[path.suffix], version)
    return assets


ASSETS = _load()
router = APIRouter(include_in_schema=False)


def static_url(name: str) -> str:
    return f"/static/{name}?v={ASSETS[name].version}"


@router.get("/static/{name}")
def static_file(name: str, request: Request) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        raise NotFound(f"no file {name!r} here")
    etag = f'"{asset.version}"'
    versioned = request.query_params.get("v") == asset.version
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={YEAR}, immutable"
        if versioned
        else "public, max-age=300",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
