"""`postback serve`: migrate once, then uvicorn; `--demo` drives a demo against it."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from typing import Annotated

import httpx
import typer
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from postback.cli.app import __version__, app
from postback.cli.output import Format, note, out, print_demo, step
from postback.config import Settings, get_settings
from postback.demo import DemoError, run_demo


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    no_migrate: Annotated[
        bool, typer.Option("--no-migrate", help="Do not upgrade the database first.")
    ] = False,
    demo: Annotated[
        bool, typer.Option("--demo", help="Also create a demo campaign and send it traffic.")
    ] = False,
) -> None:
    """Run the server (tracking links, postbacks, admin API)."""
    import uvicorn

    from postback.kit.migrate import upgrade

    base = f"http://{_local_host(host)}:{port}"
    generated_key = _prepare_environment(base, demo)
    settings = get_settings()
    if not no_migrate:
        upgrade(settings)
    sign_in = _demo_user(settings) if demo else None
    _print_banner(settings, base, generated_key, sign_in)
    if demo:
        key = settings.admin_api_key
        assert key is not None
        threading.Thread(target=_demo_when_ready, args=(base, key), daemon=True).start()
    # uvicorn re-raises the signal that stopped it once it has shut down; as KeyboardInterrupt
    # (for SIGTERM too) that unwinds through the cleanup below instead of killing the process.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        uvicorn.run(
            "postback.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            # One log line per request costs a large share of the click path's throughput; the
            # click and postback records in the database are the access log that matters.
            access_log=False,
            # Which proxies' X-Forwarded-For to believe is POSTBACK_TRUSTED_PROXIES' call alone
            # (kit/asgi.py client_ip); uvicorn's own handling would believe 127.0.0.1 even when
            # that setting trusts nobody.
            proxy_headers=False,
        )
    except KeyboardInterrupt:
        pass
    finally:
        if generated_key:
            _revoke_key(settings, generated_key)


def _revoke_key(settings: Settings, plaintext: str) -> None:
    """A key printed for one run must not outlive it in a terminal's scrollback."""
    from postback.api_keys.service import ADMIN_KEY_NAME, ensure_key, revoke_key
    from postback.kit.db import Database

    db = Database(settings)
    try:
        with db.session() as session:
            revoke_key(session, ensure_key(session, ADMIN_KEY_NAME, plaintext).id)
    finally:
        db.dispose()


def _local_host(host: str) -> str:
    """The address to print and to call ourselves on: a wildcard bind is reachable on loopback."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _prepare_environment(base: str, demo: bool) -> str | None:
    """Settings that worker processes must see go into the environment before uvicorn starts.

    Returns the admin key generated for this run, if any.
    """
    configured = Settings()
    if "public_url" not in configured.model_fields_set:
        # Tracking links and postback URLs are built from public_url: make them match the
        # address we actually listen on, unless the operator said otherwise.
        os.environ["POSTBACK_PUBLIC_URL"] = base
    generated = None
    if demo and not configured.admin_api_key:
        generated = "pb_" + secrets.token_urlsafe(24)
        os.environ["POSTBACK_ADMIN_API_KEY"] = generated
    get_settings.cache_clear()
    return generated


def _demo_user(settings: Settings) -> tuple[str, str] | None:
    """The demo admin's email and a new password, unless real users exist (users/service.py)."""
    from postback.kit.db import Database
    from postback.users.service import ensure_demo_admin

    db = Database(settings)
    try:
        with db.session() as session:
            return ensure_demo_admin(session)
    finally:
        db.dispose()


def _print_banner(
    settings: Settings,
    base: str,
    generated_key: str | None,
    sign_in: tuple[str, str] | None = None,
) -> None:
    out.print(f"[bold]Postback {__version__}[/] on {base}")
    out.print(f"  Dashboard     {base}/login")
    if sign_in is not None:
        email, password = map(escape, sign_in)
        out.print(f"  Sign in as    [bold]{email}[/] password [bold]{password}[/]")
    out.print(f"  API docs      {base}/api/docs")
    out.print(f"  Tracking      {base}/c/<campaign key>")
    out.print(f"  Postbacks     {base}/postback/<network key>?clickid=<click id>&token=<token>")
    out.print(f"  Health        {base}/healthz, {base}/readyz")
    out.print(f"  Database      {escape(safe_url(settings.database_url))}")
    if generated_key:
        out.print(f"  Admin API key [bold]{generated_key}[/] (generated for this run)")


def safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return url


def _demo_when_ready(base: str, api_key: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    try:
        result = run_demo(base, api_key, on_step=step)
    except (DemoError, httpx.HTTPError) as exc:
        note.print(f"demo failed: {escape(str(exc))}")
        return
    print_demo(result, Format.table)
    out.print("The server keeps running; press Ctrl+C to stop it.")
