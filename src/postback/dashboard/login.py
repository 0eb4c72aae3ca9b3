"""`/login` and `/logout`.

The sign-in form has no session yet, so its CSRF token is a double-submit cookie: a random
value set with the form and echoed in a hidden field; another site can do neither.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from postback.dashboard.auth import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfRefused,
    LoginLimiterDep,
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
def login(
    request: Request,
    form: FormDep,
    session: SessionDep,
    runtime: RuntimeDep,
    limiter: LoginLimiterDep,
) -> Response:
    if not service.same_token(form.get(CSRF_FIELD), request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        raise CsrfRefused()
    next_path = safe_next(form.get("next"))
    email = normalize_email(form.get("email", ""))[:300]
    password = form.get("password", "")
    key = f"{client_ip(dict(request.scope), runtime.trusted_proxies) or '-'}|{email}"
    if limiter.blocked(key):
        minutes = max(1, round(runtime.settings.login_throttle_window.total_seconds() / 60))
        raise TooManyAttempts(
            f"too many failed sign-ins for {email}; wait a few minutes (at most {minutes}) "
            "and try again"
        )
    user = None
    if email and password and len(password) <= PASSWORD_MAX:
        user = service.authenticate(session, email, password)
    if user is None:
        limiter.allow(key)  # spends one of the allowed failures
        return _form(
            request, runtime, next_path, email=email, error="Wrong email or password.",
            status_code=401,
        )  # fmt: skip
    limiter.forget(key)
    token = service.start_session(session, user, runtime.settings.session_lifetime)
    response = RedirectResponse(next_path, status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="lax", secure=_secure(runtime),
        max_age=int(runtime.settings.session_lifetime.total_seconds()), path="/",
    )  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, post: UserPost, session: SessionDep) -> Response:
    service.end_session(session, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
