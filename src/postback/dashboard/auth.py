"""Who is signed in, what they may do, and the CSRF check on every form.

Dependencies for page handlers:
  UserDep      a signed-in user (admin or viewer); anyone else is sent to /login?next=...
  AdminPost    a POST from an admin whose form carries the session's CSRF token; viewers 403
  UserPost     the same for actions any signed-in user may take (signing out)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from postback.dashboard.forms import FormData, FormDep
from postback.kit.deps import RuntimeDep
from postback.kit.errors import Forbidden, Unauthorized
from postback.runtime import Runtime
from postback.users import service
from postback.users.service import SignedIn

SESSION_COOKIE = "postback_session"
LOGIN_CSRF_COOKIE = "postback_login_csrf"
CSRF_FIELD = "csrf_token"


class SignInRequired(Unauthorized):
    """Answered with a redirect to the sign-in page, not an error page."""

    error = "sign_in_required"

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in to see this page")
        self.location = "/login?next=" + quote(next_path, safe="/")


class CsrfRefused(Forbidden):
    error = "csrf_refused"

    def __init__(self) -> None:
        super().__init__(
            "this form was not sent from a page of this dashboard, or it has expired: "
            "reload the page and try again"
        )


class ViewerRefused(Forbidden):
    def __init__(self) -> None:
        super().__init__("your account can look but not change anything: ask an admin")


def safe_next(raw: str | None) -> str:
    """A local path to go to after signing in; anything else (another host, a scheme,
    `//host`, backslashes, control characters) becomes "/": no open redirect."""
    if not raw or not raw.startswith("/") or raw.startswith("//"):
        return "/"
    if "\\" in raw or any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        return "/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or parts.path.startswith("/login"):
        return "/"
    return raw


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def current_user(request: Request, runtime: Runtime) -> SignedIn | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    # Through the reader: on SQLite a page view never waits for the click writer's lock.
    with Session(runtime.db.reader) as session:
        found = service.resolve_session(session, token)
    if found is None:
        return None
    user, touch = found
    if touch:
        # Its own small unit of work: the page itself only reads.
        with runtime.db.session() as session:
            service.touch_session(session, user.session_id)
    return user


def require_user(request: Request, runtime: RuntimeDep) -> SignedIn:
    user = current_user(request, runtime)
    if user is None:
        raise SignInRequired(_here(request) if request.method == "GET" else "/")
    request.state.user = user
    return user


UserDep = Annotated[SignedIn, Depends(require_user)]


@dataclass(frozen=True)
class Post:
    user: SignedIn
    form: FormData


def user_post(user: UserDep, form: FormDep) -> Post:
    if not service.same_token(form.get(CSRF_FIELD), user.csrf_token):
        raise CsrfRefused()
    return Post(user, form)


def admin_post(post: Annotated[Post, Depends(user_post)]) -> Post:
    if not post.user.is_admin:
        raise ViewerRefused()
    return post


UserPost = Annotated[Post, Depends(user_post)]
AdminPost = Annotated[Post, Depends(admin_post)]
