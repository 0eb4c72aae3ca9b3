"""Rendering a page: one Jinja2 environment, the layout's context, and the security headers.

Pages never run inline script (the Content-Security-Policy forbids it), so any behaviour lives
in static/dashboard.js; inline SVG charts are markup, not script.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from postback.dashboard import formatting
from postback.dashboard.nav import nav_links
from postback.dashboard.static import static_url
from postback.fraud import flags

TEMPLATES = Path(__file__).resolve().parent / "templates"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show live numbers and secrets shown once (new API keys): never from a cache.
    "Cache-Control": "no-store",
}

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.globals.update(
    static_url=static_url,
    version=version("postback"),
    fmt_money=formatting.money,
    fmt_number=formatting.number,
)
env.filters.update(
    money=formatting.money,
    money_micros=formatting.money_micros,
    number=formatting.number,
    percent=formatting.percent,
    fraud_signals=flags.explained,  # a stored bitmask as codes and plain words
)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The page `template` with the layout's context: the signed-in user (if any), the CSRF
    token for its forms, the navigation and the account currency."""
    user = getattr(request.state, "user", None)
    runtime = getattr(request.app.state, "runtime", None)
    page: dict[str, Any] = {
        "request": request,
        "user": user,
        "csrf_token": user.csrf_token if user is not None else "",
        "nav": nav_links(request) if user is not None else [],
        "currency": runtime.settings.account_currency if runtime is not None else "",
        "path": request.url.path,
    }
    page.update(context or {})
    html = env.get_template(template).render(page)
    return HTMLResponse(
        html, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})}
    )
