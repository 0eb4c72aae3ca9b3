"""The `postback` command line.

Every command reports a failure as one line on stderr and a non-zero exit code: `main()` turns
the errors a user can cause or fix (database unreachable, server down, bad setting) into that
line, and only a real bug shows a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import threading
import time
from enum import StrEnum
from importlib.metadata import version as package_version
from typing import Annotated, Any, NoReturn

import httpx
import typer
from alembic.util import CommandError
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from postback.config import Settings, get_settings
from postback.demo import DemoError, DemoResult, fill_url, run_demo
from postback.kit.errors import PostbackError

app = typer.Typer(
    name="postback",
    help="Self-hosted server-to-server conversion tracker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals hold secrets (keys, database URLs)
)
api_key_app = typer.Typer(help="Manage admin API keys.", no_args_is_help=True)
app.add_typer(api_key_app, name="api-key")

out = Console(highlight=False, soft_wrap=True)
note = Console(stderr=True, highlight=False, soft_wrap=True)


__version__ = package_version("postback")


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class CliError(Exception):
    """A failure the user can fix; the message is the whole story."""


FormatOpt = Annotated[Format, typer.Option("--format", help="Output format.")]


# --- serve -------------------------------------------------------------------------------------


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
    _print_banner(settings, base, generated_key)
    if demo:
        key = settings.admin_api_key
        assert key is not None
        threading.Thread(target=_demo_when_ready, args=(base, key), daemon=True).start()
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
    )


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


def _print_banner(settings: Settings, base: str, generated_key: str | None) -> None:
    out.print(f"[bold]Postback {__version__}[/] on {base}")
    out.print(f"  API docs      {base}/api/docs")
    out.print(f"  Tracking      {base}/c/<campaign key>")
    out.print(f"  Postbacks     {base}/postback?clickid=<click id>")
    out.print(f"  Health        {base}/healthz, {base}/readyz")
    out.print(f"  Database      {escape(_safe_url(settings.database_url))}")
    if generated_key:
        out.print(f"  Admin API key [bold]{generated_key}[/] (generated for this run)")


def _safe_url(url: str) -> str:
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
        result = run_demo(base, api_key, on_step=_step)
    except (DemoError, httpx.HTTPError) as exc:
        note.print(f"demo failed: {escape(str(exc))}")
        return
    print_demo(result, Format.table)
    out.print("The server keeps running; press Ctrl+C to stop it.")


# --- migrate -----------------------------------------------------------------------------------


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to the latest version."""
    from postback.kit.migrate import upgrade

    settings = Settings()
    upgrade(settings)
    out.print(f"Database {escape(_safe_url(settings.database_url))} is up to date.")


# --- demo --------------------------------------------------------------------------------------


@app.command()
def demo(
    url: Annotated[
        str | None, typer.Option(help="Server address.  [default: POSTBACK_PUBLIC_URL]")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="Admin API key.  [default: POSTBACK_ADMIN_API_KEY]")
    ] = None,
    clicks: Annotated[int, typer.Option(min=1, max=100_000, help="Clicks to simulate.")] = 200,
    seed: Annotated[int | None, typer.Option(help="Random seed, for repeatable traffic.")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Create a demo campaign on a running server and send it clicks and postbacks."""
    settings = Settings()
    key = api_key or settings.admin_api_key
    if not key:
        raise CliError(
            "no API key: pass --api-key or set POSTBACK_ADMIN_API_KEY "
            "(create one with `postback api-key create --name demo`)"
        )
    step = _step if fmt is Format.table else (lambda _msg: None)
    result = run_demo(url or settings.public_url, key, clicks, seed=seed, on_step=step)
    print_demo(result, fmt)


def _step(message: str) -> None:
    note.print(f"[dim]demo: {escape(message)}[/]")


def print_demo(result: DemoResult, fmt: Format) -> None:
    if fmt is Format.json:
        payload: dict[str, Any] = {
            "tracking_url": result.tracking_url,
            "postback_url": result.postback_url,
            "campaign_id": result.campaign_id,
            "results": {row["metric"]: row["value"] for row in result.rows()},
        }
        out.print_json(json.dumps(payload))
        return
    if fmt is Format.table:
        out.print()
        out.print("[bold]Tracking link[/] (paste into your traffic source):")
        out.print(f"  {escape(result.tracking_url)}")
        out.print("[bold]Postback URL[/] (paste into your affiliate network):")
        out.print(f"  {escape(result.postback_url)}")
    emit(result.rows(), fmt, title="Demo results")


def emit(rows: list[dict[str, Any]], fmt: Format, title: str | None = None) -> None:
    """Print rows as a rich table, CSV or JSON; the machine formats carry no decoration."""
    if fmt is Format.json:
        out.print_json(json.dumps(rows))
        return
    columns = list(rows[0]) if rows else []
    if fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        out.file.write(buf.getvalue())
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column == "value" else "left")
    for row in rows:
        table.add_row(*(escape(str(row[c])) for c in columns))
    out.print(table)


# --- api-key -----------------------------------------------------------------------------------


@api_key_app.command("create")
def api_key_create(
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'ci' or 'dashboard'.")],
) -> None:
    """Create an admin API key and print it (it is shown only this once)."""
    from postback.api_keys.service import create_key
    from postback.kit.db import Database

    db = Database(Settings())
    try:
        with db.session() as session:
            _key, plaintext = create_key(session, name)
    finally:
        db.dispose()
    # The key alone on stdout, so `KEY=$(postback api-key create --name x)` works.
    out.file.write(plaintext + "\n")
    note.print(f"Created API key '{escape(name)}'. Store it now: it is not shown again.")


# --- send-postback -----------------------------------------------------------------------------


@app.command("send-postback")
def send_postback(
    url: Annotated[
        str | None, typer.Argument(help="Full postback URL; macros such as {clickid} are filled.")
    ] = None,
    clickid: Annotated[str | None, typer.Option(help="Click ID to convert.")] = None,
    payout: Annotated[str | None, typer.Option(help="Payout, e.g. 1.50.")] = None,
    currency: Annotated[str | None, typer.Option(help="Currency code, e.g. EUR.")] = None,
    event: Annotated[str | None, typer.Option(help="Event, e.g. install or purchase.")] = None,
    status: Annotated[str | None, typer.Option(help="approved, pending, rejected...")] = None,
    txid: Annotated[str | None, typer.Option(help="Transaction ID.")] = None,
    token: Annotated[str | None, typer.Option(help="The network's secret token.")] = None,
    server: Annotated[
        str | None, typer.Option(help="Server address.  [default: POSTBACK_PUBLIC_URL]")
    ] = None,
    network: Annotated[str | None, typer.Option(help="Network key: /postback/{key}.")] = None,
) -> None:
    """Fire a test postback (GET) and print the server's answer; exit 1 if it is refused."""
    if url is None and clickid is None:
        raise CliError("give a postback URL or --clickid")
    if url is None:
        base = (server or Settings().public_url).rstrip("/")
        url = f"{base}/postback/{network}" if network else f"{base}/postback"
    fields = {
        "clickid": clickid,
        "payout": payout,
        "currency": currency,
        "event": event,
        "status": status,
        "txid": txid,
        "token": token,
    }
    target = fill_url(url, {k: v for k, v in fields.items() if v is not None})
    resp = httpx.get(target, timeout=15, follow_redirects=False)
    body = " ".join(resp.text.split())
    out.print(f"{resp.status_code} {escape(body)}")
    if resp.status_code >= 400:
        raise typer.Exit(1)


# --- entry point -------------------------------------------------------------------------------


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    if version:
        out.print(f"postback {__version__}")
        raise typer.Exit()


def main() -> None:
    try:
        app()
    except (CliError, DemoError) as exc:
        _fail(str(exc))
    except PostbackError as exc:
        _fail(exc.detail)
    except httpx.HTTPError as exc:
        where = f" to {exc.request.url}" if _has_request(exc) else ""
        _fail(f"request{where} failed: {_first_line(exc)}")
    except DBAPIError as exc:
        _fail(_database_message(exc))
    except (SQLAlchemyError, CommandError) as exc:
        _fail(f"database error: {_first_line(exc)}")
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        _fail(f"invalid setting: {problems}")


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error has no request
    except RuntimeError:
        return False
    return True


def _database_message(exc: DBAPIError) -> str:
    text = _first_line(exc.orig) if exc.orig is not None else _first_line(exc)
    lowered = text.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return f"database is not set up ({text}): run `postback migrate` first"
    return f"cannot use the database: {text}"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise SystemExit(1)


if __name__ == "__main__":
    main()
