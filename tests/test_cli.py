"""The `postback` command line, run as a user runs it: a separate process, real HTTP.

Each command runs in a temporary working directory with only the POSTBACK_* variables the test
sets, so a developer's own `.env` or environment cannot leak in.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from postback.demo import fill_url
from tests.conftest import LiveServer, free_port
from tests.factories import click, make_setup


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "postback.cli", *args],
        cwd=cwd,
        env=clean_env(env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTBACK_")}
    return {**env, "POSTBACK_LOG_LEVEL": "WARNING", **extra}


def assert_one_line_error(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")


# --- migrate and api-key create ----------------------------------------------------------------


def test_migrate_creates_the_schema_in_a_new_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = run_cli("migrate", cwd=tmp_path, env={"POSTBACK_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"alembic_version", "clicks", "conversions", "api_keys"} <= tables


def test_migrate_twice_is_harmless(tmp_path: Path) -> None:
    env = {"POSTBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'twice.db'}"}
    assert run_cli("migrate", cwd=tmp_path, env=env).returncode == 0
    assert run_cli("migrate", cwd=tmp_path, env=env).returncode == 0


def test_api_key_create_prints_a_key_that_authenticates(live: LiveServer, tmp_path: Path) -> None:
    env = {"POSTBACK_DATABASE_URL": live.settings.database_url}
    result = run_cli("api-key", "create", "--name", "ci", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert key.startswith("pb_") and "\n" not in key
    for presented, status in ((key, 200), (key + "x", 401)):
        headers = {"Authorization": f"Bearer {presented}"}
        assert httpx.get(f"{live.url}/api/v1/api-keys", headers=headers).status_code == status


# --- errors: one line, non-zero exit, no traceback ---------------------------------------------


def test_unreachable_postgresql_is_one_line_error(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    result = run_cli("migrate", cwd=tmp_path, env={"POSTBACK_DATABASE_URL": url})
    assert_one_line_error(result)
    assert "database" in result.stderr


def test_unopenable_sqlite_file_is_one_line_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    result = run_cli(
        "api-key", "create", "--name", "x", cwd=tmp_path, env={"POSTBACK_DATABASE_URL": url}
    )
    assert_one_line_error(result)


def test_api_key_create_before_migrate_says_to_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = run_cli(
        "api-key", "create", "--name", "x", cwd=tmp_path, env={"POSTBACK_DATABASE_URL": url}
    )
    assert_one_line_error(result)
    assert "postback migrate" in result.stderr


def test_demo_against_a_server_that_is_not_there_is_one_line_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("demo", "--url", url, "--api-key", "pb_x", cwd=tmp_path)
    assert_one_line_error(result)
    assert "cannot reach the server" in result.stderr


def test_demo_without_an_api_key_is_one_line_error(tmp_path: Path) -> None:
    result = run_cli("demo", "--url", "http://127.0.0.1:9", cwd=tmp_path)
    assert_one_line_error(result)
    assert "api-key" in result.stderr


def test_send_postback_to_a_server_that_is_not_there_is_one_line_error(tmp_path: Path) -> None:
    server = f"http://127.0.0.1:{free_port()}"
    result = run_cli("send-postback", "--clickid", "abc", "--server", server, cwd=tmp_path)
    assert_one_line_error(result)


def test_invalid_setting_is_one_line_error(tmp_path: Path) -> None:
    env = {"POSTBACK_CONFIG_CACHE_TTL": "soon"}
    result = run_cli("migrate", cwd=tmp_path, env=env)
    assert_one_line_error(result)
    assert "config_cache_ttl" in result.stderr


# --- send-postback ------------------------------------------------------------------------------


def test_send_postback_prints_the_answer_and_exits_zero_when_accepted(
    live: LiveServer, http: httpx.Client, tmp_path: Path
) -> None:
    setup = make_setup(live)
    cid = click(http, setup)
    result = run_cli(
        "send-postback",
        "--clickid",
        cid,
        "--payout",
        "2.5",
        "--server",
        live.url,
        "--network",
        setup.network_key,
        "--token",
        setup.token or "",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("200 OK accepted ")


def test_send_postback_exits_non_zero_when_refused(live: LiveServer, tmp_path: Path) -> None:
    template = f"{live.url}/postback?clickid={{clickid}}&payout={{payout}}"
    result = run_cli(
        "send-postback", template, "--clickid", "01ARZ3NDEKTSV4RRFFQ69G5FAV", cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stdout.startswith("404 ")
    assert "unknown_click" in result.stdout


def test_fill_url_fills_macros_keeps_secrets_and_drops_unfilled_ones() -> None:
    template = "http://h/postback/k?cid={clickid}&sum=${PAYOUT}&token=s3&cur=##CURRENCY##"
    url = fill_url(template, {"clickid": "C1", "payout": "1.5", "txid": "T"})
    assert url == "http://h/postback/k?cid=C1&sum=1.5&token=s3&txid=T"


def test_fill_url_overrides_a_named_parameter() -> None:
    url = fill_url("http://h/postback?clickid=OLD&x=1", {"clickid": "NEW"})
    assert url == "http://h/postback?clickid=NEW&x=1"


# --- serve + demo, end to end -------------------------------------------------------------------


def start_serve(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with (tmp_path / "serve.log").open("w") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "postback.cli", "serve", *args],
            cwd=tmp_path,
            env=clean_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`postback serve` in its own process on a free port and a new SQLite file."""
    port = free_port()
    env = {
        "POSTBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "POSTBACK_ADMIN_API_KEY": "pb_cli_test_admin_key_0123456789",
        "POSTBACK_SQLITE_SYNCHRONOUS": "NORMAL",
    }
    proc = start_serve(tmp_path, "--port", str(port), env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, tmp_path / "serve.log")
        yield url
    finally:
        stop(proc)


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"postback serve exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"postback serve did not become ready:\n{log.read_text()}")


def test_demo_against_a_served_instance_shows_accepted_conversions(
    served: str, tmp_path: Path
) -> None:
    args = ["demo", "--url", served, "--clicks", "60", "--seed", "7", "--format", "json"]
    env = {"POSTBACK_ADMIN_API_KEY": "pb_cli_test_admin_key_0123456789"}
    result = run_cli(*args, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    numbers = report["results"]
    assert numbers["clicks sent"] == numbers["redirects (302)"] == 60
    assert numbers["conversions accepted"] > 0
    assert numbers["refused: unknown_click"] == 1
    assert numbers["refused: placeholder_value"] == 1
    assert report["tracking_url"].startswith(f"{served}/c/")
    assert report["postback_url"].startswith(served)

    table = run_cli("demo", "--url", served, "--clicks", "5", cwd=tmp_path, env=env)
    assert table.returncode == 0, table.stderr
    assert "conversions accepted" in table.stdout
    assert "Tracking link" in table.stdout


def test_serve_demo_runs_the_demo_and_revokes_its_generated_key_on_exit(tmp_path: Path) -> None:
    port = free_port()
    env = {"POSTBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    proc = start_serve(tmp_path, "--port", str(port), "--demo", env=env)
    log = tmp_path / "serve.log"
    try:
        deadline = time.monotonic() + 90
        while "The server keeps running" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        key = re.search(r"Admin API key (pb_\S+)", log.read_text())
        assert key is not None, log.read_text()
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        keys_url = f"http://127.0.0.1:{port}/api/v1/api-keys"
        assert httpx.get(keys_url, headers=headers).status_code == 200
    finally:
        assert stop(proc) == 0, log.read_text()
    text = log.read_text()
    assert "conversions accepted" in text and "Traceback" not in text
    engine = create_engine(env["POSTBACK_DATABASE_URL"])
    with engine.connect() as conn:
        revoked = conn.exec_driver_sql("SELECT revoked_at FROM api_keys").scalars().all()
    engine.dispose()
    assert len(revoked) == 1 and revoked[0] is not None


def test_worker_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = {"POSTBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'worker.db'}"}
    assert run_cli("migrate", cwd=tmp_path, env=env).returncode == 0
    log = tmp_path / "worker.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "postback.cli", "worker", "--name", "t1"],
            cwd=tmp_path,
            env=clean_env({**env, "POSTBACK_LOG_LEVEL": "INFO"}),
            stderr=sink,
        )
    deadline = time.monotonic() + 30
    # A SIGTERM before the worker has installed its handler would just kill it.
    while "started" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    assert stop(proc) == 0, log.read_text()
    assert "worker stopped after 0 deliveries" in log.read_text()
