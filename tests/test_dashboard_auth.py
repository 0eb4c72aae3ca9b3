"""Dashboard sign-in rules over plain HTTP: redirects, sessions, CSRF, roles, throttling.

Browser tests of the same pages are in tests/e2e/; these are the fast checks of the rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from postback.models import ApiKey, utcnow
from postback.users.tables import UserSession
from tests.conftest import LiveServer
from tests.signin import csrf_of, make_user, sign_in_form, signed_in_client


@pytest.fixture
def admin(live: LiveServer) -> Iterator[httpx.Client]:
    with signed_in_client(live, make_user(live, "admin")) as client:
        yield client


@pytest.mark.parametrize("path", ["/", "/settings", "/settings?x=1"])
def test_pages_send_visitors_who_are_not_signed_in_to_the_sign_in_page(
    http: httpx.Client, path: str
) -> None:
    resp = http.get(path)
    assert resp.status_code == 303
    location = urlsplit(resp.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [path]


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "/\r\nLocation: https://evil.example",
        "evil.example",
    ],
)
def test_sign_in_never_redirects_off_site(live: LiveServer, next_path: str) -> None:
    creds = make_user(live)
    with httpx.Client(base_url=live.url, timeout=10) as client:
        page = client.get("/login", params={"next": next_path})
        assert 'name="next" value="/"' in page.text
        resp = sign_in_form(client, creds, next_path)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/"


def test_sign_in_goes_on_to_a_local_next_path(live: LiveServer) -> None:
    creds = make_user(live)
    with httpx.Client(base_url=live.url, timeout=10) as client:
        resp = sign_in_form(client, creds, "/settings?tab=keys")
    assert resp.status_code == 303
    assert resp.headers["location"] == "/settings?tab=keys"


def test_session_cookie_is_http_only_and_same_site_lax(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as client:
        resp = sign_in_form(client, make_user(live))
    cookie = next(
        c for c in resp.headers.get_list("set-cookie") if c.startswith("postback_session=")
    )
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= flags
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in flags  # public_url is http:// in tests


def test_only_a_hash_of_the_session_token_is_stored(live: LiveServer, admin: httpx.Client) -> None:
    token = admin.cookies["postback_session"]
    with live.runtime.db.session() as session:
        hashes = session.scalars(select(UserSession.token_hash)).all()
    assert len(hashes) == 1 and token not in hashes[0] and len(hashes[0]) == 64


def test_an_expired_session_signs_nobody_in(live: LiveServer, admin: httpx.Client) -> None:
    assert admin.get("/").status_code == 200
    with live.runtime.db.session() as session:
        session.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    resp = admin.get("/")
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")


def test_sign_out_revokes_the_session_even_if_the_cookie_is_kept(
    live: LiveServer, admin: httpx.Client
) -> None:
    token = admin.cookies["postback_session"]
    csrf = csrf_of(admin.get("/").text)
    resp = admin.post("/logout", data={"csrf_token": csrf})
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    with httpx.Client(base_url=live.url, cookies={"postback_session": token}) as stolen:
        assert stolen.get("/").status_code == 303


def test_failed_sign_ins_are_throttled_per_ip_and_email(live: LiveServer) -> None:
    creds = make_user(live)
    other = make_user(live)
    limit = live.settings.login_max_failures
    with httpx.Client(base_url=live.url, timeout=10) as client:
        wrong = type(creds)(creds.email, "wrong password", creds.role)
        for _ in range(limit):
            assert sign_in_form(client, wrong).status_code == 401
        # Now even the right password waits: a guesser cannot tell when they hit it.
        blocked = sign_in_form(client, creds)
        assert blocked.status_code == 429
        assert "too many failed sign-ins" in blocked.text
        assert "postback_session" not in client.cookies
        assert sign_in_form(client, other).status_code == 303


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_a_form_without_the_sessions_csrf_token_is_refused(
    live: LiveServer, admin: httpx.Client, token: str | None
) -> None:
    form = {"name": "sneaky"} | ({} if token is None else {"csrf_token": token})
    resp = admin.post("/settings/api-keys", data=form)
    assert resp.status_code == 403
    assert "text/html" in resp.headers["content-type"]
    assert "not sent from a page of this dashboard" in resp.text
    with live.runtime.db.session() as session:
        assert session.scalars(select(ApiKey).where(ApiKey.name == "sneaky")).all() == []


def test_sign_in_without_the_forms_csrf_cookie_is_refused(live: LiveServer) -> None:
    creds = make_user(live)
    with httpx.Client(base_url=live.url, timeout=10) as client:
        data = {"email": creds.email, "password": creds.password, "csrf_token": "x"}
        resp = client.post("/login", data=data)
    assert resp.status_code == 403
    assert "postback_session" not in resp.headers.get("set-cookie", "")


def test_viewers_get_403_on_every_change(live: LiveServer) -> None:
    with signed_in_client(live, make_user(live, "viewer")) as viewer:
        page = viewer.get("/settings")
        assert page.status_code == 200 and "Create key" not in page.text
        csrf = csrf_of(page.text)
        created = viewer.post("/settings/api-keys", data={"csrf_token": csrf, "name": "x"})
        revoked = viewer.post("/settings/api-keys/1/revoke", data={"csrf_token": csrf})
        assert created.status_code == revoked.status_code == 403
        assert "can look but not change" in created.text
        # Signing out is theirs to do.
        assert viewer.post("/logout", data={"csrf_token": csrf}).status_code == 303
    with live.runtime.db.session() as session:
        assert session.scalars(select(ApiKey).where(ApiKey.name == "x")).all() == []


def test_unknown_pages_are_html_404s_and_api_errors_stay_json(
    http: httpx.Client, admin: httpx.Client
) -> None:
    page = http.get("/no-such-page")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "There is no page at this address" in page.text
    signed_in = admin.get("/no-such-page")
    assert signed_in.status_code == 404 and 'aria-label="Main"' in signed_in.text
    api = http.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json()["error"] == "not_found"
    assert http.get("/api/v1/campaigns").json()["error"] == "unauthorized"


def test_bad_overview_query_is_a_400_page_that_says_what_is_wrong(admin: httpx.Client) -> None:
    for query, message in [
        ({"tz": "Mars/Olympus"}, "is not a time zone"),
        ({"from": "2024-13-01", "to": "2024-01-02"}, "must be dates"),
        ({"from": "2024-02-01", "to": "2024-01-01"}, "must not be after"),
        ({"range": "forever"}, "is not a range"),
    ]:
        resp = admin.get("/", params=query)
        assert resp.status_code == 400, query
        assert message in resp.text and "Traceback" not in resp.text


def test_pages_forbid_framing_inline_script_and_caching(admin: httpx.Client) -> None:
    resp = admin.get("/")
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["cache-control"] == "no-store"
    assert "<script>" not in resp.text


def test_static_files_are_ours_with_long_cache_when_versioned(http: httpx.Client) -> None:
    page = http.get("/login")
    href = page.text.split('rel="stylesheet" href="')[1].split('"')[0]
    css = http.get(href)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "immutable" in css.headers["cache-control"]
    again = http.get(href, headers={"if-none-match": css.headers["etag"]})
    assert again.status_code == 304
    assert "max-age=300" in http.get("/static/dashboard.css").headers["cache-control"]
    assert http.get("/static/../config.py").status_code == 404
    assert http.get("/static/nope.js").status_code == 404
