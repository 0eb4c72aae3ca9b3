"""Dashboard users: the service rules and `postback user create|list`, run as a user runs them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from postback.kit.errors import Conflict, Unprocessable
from postback.users.schemas import UserCreate
from postback.users.service import authenticate, create_user, ensure_demo_admin
from postback.users.tables import Role
from tests.conftest import LiveServer, free_port
from tests.signin import PASSWORD, Credentials, make_user, sign_in_form
from tests.test_cli import assert_one_line_error, clean_env, run_cli, start_serve, stop


def test_emails_are_unique_whatever_their_case(live: LiveServer) -> None:
    make_user(live, email="Ann@Example.com")
    with pytest.raises(Conflict), live.runtime.db.session() as session:
        create_user(session, UserCreate(email="ann@EXAMPLE.com ", password=PASSWORD))


def test_passwords_are_stored_as_argon2id_hashes_and_checked(live: LiveServer) -> None:
    creds = make_user(live, email="bob@example.com")
    with live.runtime.db.session() as session:
        user = authenticate(session, "BOB@example.com", creds.password)
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert creds.password not in user.password_hash
        assert authenticate(session, "bob@example.com", creds.password + "x") is None
        assert authenticate(session, "nobody@example.com", creds.password) is None


@pytest.mark.parametrize(
    ("email", "password", "role", "field"),
    [
        ("not-an-email", PASSWORD, "admin", "email"),
        ("a@example.com", "short", "admin", "password"),
        ("a@example.com", PASSWORD, "root", "role"),
    ],
)
def test_bad_new_users_are_refused_with_the_field_named(
    email: str, password: str, role: str, field: str
) -> None:
    with pytest.raises(Unprocessable) as caught:
        UserCreate.parse(email, password, role)
    assert caught.value.detail.startswith(f"{field}: ")


def test_demo_admin_is_created_once_and_gets_a_new_password_each_run(live: LiveServer) -> None:
    with live.runtime.db.session() as session:
        first = ensure_demo_admin(session)
    with live.runtime.db.session() as session:
        second = ensure_demo_admin(session)
    assert first is not None and second is not None and first[0] == second[0]
    assert first[1] != second[1]
    with live.runtime.db.session() as session:
        assert authenticate(session, second[0], first[1]) is None
        user = authenticate(session, second[0], second[1])
        assert user is not None and user.role == Role.ADMIN


def test_no_demo_admin_once_real_users_exist(live: LiveServer) -> None:
    make_user(live)
    with live.runtime.db.session() as session:
        assert ensure_demo_admin(session) is None


# --- the command line ------------------------------------------------------------------------


def test_user_create_reads_the_password_from_stdin_and_the_user_can_sign_in(
    live: LiveServer, tmp_path: Path
) -> None:
    env = {"POSTBACK_DATABASE_URL": live.settings.database_url}
    result = _user_create(tmp_path, env, "Eve@Example.com", "--role", "viewer", stdin=PASSWORD)
    assert result.returncode == 0, result.stderr
    listed = run_cli("user", "list", "--format", "json", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["email"], r["role"], r["state"]) for r in rows] == [
        ("eve@example.com", "viewer", "active")
    ]
    with httpx.Client(base_url=live.url, timeout=10) as client:
        resp = sign_in_form(client, Credentials("eve@example.com", PASSWORD, "viewer"))
    assert resp.status_code == 303


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["nobody", "--role", "admin"], PASSWORD, "email"),
        (["x@example.com", "--role", "owner"], PASSWORD, "role"),
        (["x@example.com"], "short", "password"),
    ],
)
def test_user_create_with_bad_input_is_one_line_error(
    live: LiveServer, tmp_path: Path, args: list[str], stdin: str, message: str
) -> None:
    env = {"POSTBACK_DATABASE_URL": live.settings.database_url}
    result = _user_create(tmp_path, env, *args, stdin=stdin)
    assert_one_line_error(result)
    assert message in result.stderr


def test_user_create_twice_is_one_line_error(live: LiveServer, tmp_path: Path) -> None:
    env = {"POSTBACK_DATABASE_URL": live.settings.database_url}
    assert _user_create(tmp_path, env, "dup@example.com", stdin=PASSWORD).returncode == 0
    result = _user_create(tmp_path, env, "DUP@example.com", stdin=PASSWORD)
    assert_one_line_error(result)
    assert "already exists" in result.stderr


def test_user_create_without_a_terminal_or_stdin_flag_is_one_line_error(tmp_path: Path) -> None:
    env = {"POSTBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = run_cli("user", "create", "a@example.com", cwd=tmp_path, env=env)
    assert_one_line_error(result)
    assert "--password-stdin" in result.stderr


def _user_create(
    tmp_path: Path, env: dict[str, str], *args: str, stdin: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "postback.cli", "user", "create", *args, "--password-stdin"],
        cwd=tmp_path,
        env=clean_env(env),
        input=stdin + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_demo_prints_a_sign_in_that_works_and_shows_the_demo_traffic(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {"POSTBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    proc = start_serve(tmp_path, "--port", str(port), "--demo", env=env)
    log = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while "The server keeps running" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        assert f"Dashboard     {base}/login" in text
        found = re.search(r"Sign in as\s+(\S+) password (\S+)", text)
        assert found is not None, text
        with httpx.Client(base_url=base, timeout=10) as client:
            creds = Credentials(found.group(1), found.group(2), "admin")
            assert sign_in_form(client, creds).status_code == 303
            page = client.get("/")
        assert page.status_code == 200
        clicks = re.search(r'data-metric="clicks">([\d,]+)<', page.text)
        assert clicks is not None and int(clicks.group(1).replace(",", "")) > 0
    finally:
        assert stop(proc) == 0, log.read_text()
    engine = create_engine(env["POSTBACK_DATABASE_URL"])
    with engine.connect() as conn:
        users = conn.exec_driver_sql("SELECT email, role FROM users").all()
    engine.dispose()
    assert [tuple(u) for u in users] == [("demo@example.com", "admin")]
