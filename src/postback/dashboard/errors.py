"""Errors on dashboard paths: an HTML page with the status code, never a traceback.

The admin API's exception handlers (api.py) hand over every error whose path is not under
/api, so unknown paths, refused forms and bugs alike get a page; API errors stay JSON.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from postback.dashboard.auth import SignInRequired, current_user
from postback.dashboard.render import SECURITY_HEADERS, render
from postback.kit.errors import PostbackError

log = logging.getLogger("postback.dashboard")

_MESSAGES = {
    404: "There is no page at this address.",
    405: "This page cannot be used that way.",
    500: "Something went wrong on our side; the server log has the details.",
}


def is_page(request: Request) -> bool:
    path = request.url.path
    return not (path == "/api" or path.startswith("/api/"))


def error_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInRequired):
        return RedirectResponse(exc.location, status_code=303, headers=SECURITY_HEADERS)
    headers = None
    if isinstance(exc, PostbackError):
        status, detail = exc.status_code, exc.detail
        headers = getattr(exc, "headers", None)
    elif isinstance(exc, RequestValidationError):
        status = 400
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p not in ('query', 'path', 'body'))}: "
            f"{e['msg']}"
            for e in exc.errors()
        )
    elif isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        detail = _MESSAGES.get(status, str(exc.detail))
    else:
        log.exception("unhandled error on %s", request.url.path, exc_info=exc)
        status, detail = 500, _MESSAGES[500]
    context = {"status": status, "title": _title(status), "detail": detail}
    try:
        _find_user(request)
        return render(request, "error.html", context, status_code=status, headers=headers)
    except Exception:
        log.exception("the error page for %s failed", request.url.path)
        return HTMLResponse(f"<h1>{status} {_title(status)}</h1>", status_code=status)


def _find_user(request: Request) -> None:
    """Show a signed-in user the navigation on error pages too (404s run no auth)."""
    runtime = getattr(request.app.state, "runtime", None)
    if getattr(request.state, "user", None) is None and runtime is not None:
        request.state.user = current_user(request, runtime)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
