"""Dashboard users and signed-in HTTP clients for tests (browser fixtures: tests/e2e/)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy import delete

from postback.users.schemas import UserCreate
from postback.users.service import create_user
from postback.users.tables import LoginFailure, Role
from tests.conftest import LiveServer

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str
    role: str


def make_user(live: LiveServer, role: str = Role.ADMIN, email: str | None = None) -> Credentials:
    """A user written straight through the users service (the CLI has its own tests)."""
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    with live.runtime.db.session() as session:
        create_user(session, UserCreate(email=email, password=PASSWORD, role=Role(role)))
    return Credentials(email, PASSWORD, role)


def csrf_of(html: str) -> str:
    """The CSRF token in a page's first form."""
    found = _CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def sign_in_form(client: httpx.Client, creds: Credentials, next_path: str = "/") -> httpx.Response:
    """GET the sign-in page, then POST its form with the credentials; the raw answer."""
    page = client.get("/login", params={"next": next_path})
    assert page.status_code == 200, page.text
    form = {
        "csrf_token": csrf_of(page.text),
        "email": creds.email,
        "password": creds.password,
        "next": next_path,
    }
    return client.post("/login", data=form)


@contextmanager
def signed_in_client(live: LiveServer, creds: Credentials) -> Iterator[httpx.Client]:
    """An HTTP client holding a session cookie for `creds` (redirects not followed)."""
    with httpx.Client(base_url=live.url, follow_redirects=False, timeout=10) as client:
        resp = sign_in_form(client, creds)
        assert resp.status_code == 303, resp.text
        yield client


def reset_login_throttle(live: LiveServer) -> None:
    with live.runtime.db.session() as session:
        session.execute(delete(LoginFailure))
