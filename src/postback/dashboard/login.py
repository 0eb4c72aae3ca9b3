"""`/login` and `/logout`.

The sign-in form has no session yet, so its CSRF token is a double-submit cookie: a random
value set with the form and echoed in a hidden field; another site can do neither.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from postback.dashboard.auth import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfRefused,
    UserPost,
    current_user,
    safe_next,
)
from postback.dashboard.forms import FormDep
from postback.dashboard.render import SECURITY_HEADERS, render
from postback.kit.asgi import client_ip
from postback.kit.deps import RuntimeDep, SessionDep
from postback.kit.errors import PostbackError
from postback.runtime import Runtime
from postback.users import service
from postback.users.schemas import PASSWORD_MAX, normalize_email

router = APIRouter(include_in_schema=False)


class TooManyAttempts(PostbackError):
    status_code = 429
    error = "rate_limited"


def _secure(runtime: Runtime) -> bool:
    return runtime.settings.public_url.lower().startswith("https://")


def _form(
    request: Request,
    runtime: Runtime,
    next_path: str,
    *,
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or service.new_csrf_token()
    context: dict[str, Any] = {
        "next": next_path,
        "email": email,
        "error": error,
        "login_csrf": token,
    }
    response = render(request, "login.html", context, status_code=status_code)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", secure=_secure(runtime),
        path="/login",
    )  # fmt: skip
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, runtime: RuntimeDep, next: str = "/") -> Response:
    next_path = safe_next(next)
    if current_user(request, runtime) is not None:
        return RedirectResponse(next_path, status_code=303, headers=SECURITY_HEADERS)
    return _form(request, runtime, next_path)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: FormDep, runtime: RuntimeDep) -> Response:
    """A sync handler, so the password check runs on a worker thread, off the event loop.

    Three steps, and only the last writes: read the throttle and the user (through the
    reader: no write lock on SQLite), check the password with no transaction open, then one
    short transaction for the throttle count or the new session. Before, the argon2 check ran
    inside the write transaction and a burst of wrong passwords held up every click."""
    if not service.same_token(form.get(CSRF_FIELD), request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        raise CsrfRefused()
    settings = runtime.settings
    next_path = safe_next(form.get("next"))
    email = normalize_email(form.get("email", ""))[:300]
    password = form.get("password", "")
    ip = client_ip(dict(request.scope), runtime.trusted_proxies)
    throttle = service.Throttle.of(
        ip, email, settings.login_max_failures, settings.login_throttle_window
    )
    with Session(runtime.db.reader) as read:
        if throttle.blocked(read):
            raise _too_many(runtime, email)
        well_formed = email and password and len(password) <= PASSWORD_MAX
        candidate = service.find_candidate(read, email) if well_formed else None
    ok, new_hash = service.check_password(candidate, password) if candidate else (False, None)
    token: str | None = None
    with runtime.db.session() as session:
        if not ok or candidate is None:
            over = throttle.fail(session)
        else:
            token = service.complete_sign_in(
                session, candidate, new_hash, throttle, settings.session_lifetime
            )
            over = token is None
    if over:
        raise _too_many(runtime, email)
    if token is None:
        return _form(
            request, runtime, next_path, email=email, error="Wrong email or password.",
            status_code=401,
        )  # fmt: skip
    response = RedirectResponse(next_path, status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="lax", secure=_secure(runtime),
        max_age=int(settings.session_lifetime.total_seconds()), path="/",
    )  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _too_many(runtime: Runtime, email: str) -> TooManyAttempts:
    minutes = max(1, round(runtime.settings.login_throttle_window.total_seconds() / 60))
    return TooManyAttempts(
        f"too many failed sign-ins for {email}; wait a few minutes (at most {minutes}) "
        "and try again"
    )


@router.post("/logout")
def logout(request: Request, post: UserPost, session: SessionDep) -> Response:
    service.end_session(session, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
