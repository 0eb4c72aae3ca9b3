"""`postback migrate`, `demo`, `api-key create` and `send-postback`."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer
from rich.markup import escape

from postback.cli.app import CliError, api_key_app, app
from postback.cli.output import Format, FormatOpt, note, out, print_demo, step
from postback.cli.serve import safe_url
from postback.config import Settings
from postback.demo import fill_url, run_demo


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to the latest version."""
    from postback.kit.migrate import upgrade

    settings = Settings()
    upgrade(settings)
    out.print(f"Database {escape(safe_url(settings.database_url))} is up to date.")


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
    on_step = step if fmt is Format.table else (lambda _msg: None)
    result = run_demo(url or settings.public_url, key, clicks, seed=seed, on_step=on_step)
    print_demo(result, fmt)


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


@app.command()
def worker(
    name: Annotated[str | None, typer.Option(help="Name in the delivery log.")] = None,
) -> None:
    """Deliver outbound postbacks until SIGTERM or Ctrl+C (run as many as you like)."""
    from postback.deliveries.run import run_worker

    delivered = run_worker(Settings(), name)
    note.print(f"worker stopped after {delivered} deliveries")
