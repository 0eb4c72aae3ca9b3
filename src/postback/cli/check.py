"""`postback check`: is an offer URL right, did a test conversion come back, why did a postback
fail? Each subcommand reads the database directly, like `postback report`, so it works on the
server's machine without an API key; the same answers are in the admin API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.markup import escape
from sqlalchemy import insert
from sqlalchemy.orm import Session

from postback.cli.app import CliError, app
from postback.cli.output import Format, emit, out
from postback.config import Settings
from postback.kit.db import Database

check_app = typer.Typer(
    help="Check an offer URL, make a test conversion, find a lost one.", no_args_is_help=True
)
app.add_typer(check_app, name="check")


class CheckFormat(StrEnum):
    table = "table"
    json = "json"


FormatOpt = Annotated[CheckFormat, typer.Option("--format", help="Output format.")]


@contextmanager
def _database() -> Iterator[Database]:
    db = Database(Settings())
    try:
        yield db
    finally:
        db.dispose()


@contextmanager
def _session() -> Iterator[Session]:
    with _database() as db, Session(db.reader) as session:
        yield session


def _json(model: BaseModel) -> None:
    out.print_json(model.model_dump_json())


@check_app.command("offer-url")
def offer_url(
    url: Annotated[str, typer.Argument(help="The offer URL, with the network's macros.")],
    network: Annotated[int | None, typer.Option(help="Network id, to check its macros.")] = None,
    fmt: FormatOpt = CheckFormat.table,
) -> None:
    """Say whether an offer URL passes our click ID on; exit 1 when it has errors."""
    from postback.integrations.schemas import OfferUrlCheck
    from postback.integrations.service import check_offer_url

    with _session() as session:
        verdict = check_offer_url(session, OfferUrlCheck(url=url, network_id=network))
    if fmt is CheckFormat.json:
        _json(verdict)
    else:
        out.print(("OK " if verdict.valid else "ERROR ") + escape(verdict.message))
        for warning in verdict.warnings:
            out.print(f"warning: {escape(warning.message)}")
    if not verdict.valid:
        raise typer.Exit(1)


@check_app.command("test-conversion")
def test_conversion(
    campaign: Annotated[str, typer.Option(help="Campaign key (as in /c/{key}).")],
    offer: Annotated[int | None, typer.Option(help="Offer id; default: the rotation's.")] = None,
    fmt: FormatOpt = CheckFormat.table,
) -> None:
    """Make a test click: print where it redirects and the postback the network should fire."""
    with _database() as db, db.engine.begin() as conn:
        made = _test_click(conn, campaign, offer, db.settings.public_url)
    if fmt is CheckFormat.json:
        out.print_json(data=made)
        return
    out.print(f"Test click {made['clickid']} (PENDING)")
    out.print("Open as a visitor, then convert on the offer:")
    out.print(f"  {escape(made['redirect_url'] or '-')}")
    if made["postback_url"]:
        out.print("The network should then fire (or use `postback send-postback` with it):")
        out.print(f"  {escape(made['postback_url'])}")
    else:
        # No network can authenticate a postback for it: the pipeline answers no_network.
        out.print("The offer has no network, so postbacks for it are refused (no_network):")
        out.print("  give the offer a network, or record the conversion with the API.")
    out.print(f"Then: postback check status {made['clickid']}")


def _test_click(conn: Any, key: str, offer_id: int | None, public_url: str) -> dict[str, Any]:
    from postback.clicks import service as clicks
    from postback.clicks.repository import load_route
    from postback.clicks.visitor import visitor_from
    from postback.models import Click

    route = load_route(conn, key)
    if route is None:
        raise CliError(f"no campaign has the key {key!r}")
    offers = [o for o in route.offers if offer_id in (None, o.id)]
    if not offers:
        raise CliError("the campaign has no live offer to test")
    # One offer, so the printed postback matches the network the click really goes to.
    route = route.straight_to(offers[0])
    click = clicks.new_click(route, {}, visitor_from(None, None, None, None), is_test=True)
    conn.execute(insert(Click), [click.row])
    clickid = click.row["id"]
    return {
        "clickid": clickid,
        "status": "PENDING",
        "redirect_url": click.location,
        "postback_url": _postback_to_fire(conn, offers[0].network_id, clickid, public_url),
    }


def _postback_to_fire(conn: Any, network_id: int | None, clickid: str, public_url: str) -> str:
    """The postback the offer's network should fire; "" when the offer has no network."""
    from postback.demo import fill_url
    from postback.models import Network
    from postback.networks.service import postback_url

    with Session(conn) as session:
        network = session.get(Network, network_id) if network_id else None
        if network is None:
            return ""
        template = postback_url(public_url, network, with_secret=True)
    # Our click ID filled in; the network's other macros (payout...) are dropped, not sent raw.
    return fill_url(template, {"clickid": clickid})


@check_app.command("status")
def status(
    clickid: Annotated[str, typer.Argument(help="The test click's ID.")],
    fmt: FormatOpt = CheckFormat.table,
) -> None:
    """PENDING, VALID or INVALID (with the refused postback's reason); exit 1 when INVALID."""
    from postback.integrations.service import status as test_status

    with _session() as session:
        result = test_status(session, clickid.strip().upper())
    if fmt is CheckFormat.json:
        _json(result)
    else:
        reason = f" {result.reason}" if result.reason else ""
        out.print(f"{result.status}{reason}: {escape(result.detail)}")
    if result.status == "INVALID":
        raise typer.Exit(1)


@check_app.command("explain")
def explain(
    clickid: Annotated[str, typer.Argument(help="Any click ID.")],
    fmt: FormatOpt = CheckFormat.table,
) -> None:
    """The click, its conversions, every postback that named it and every delivery."""
    from postback.lab.service import explain as explain_click

    with _database() as db, Session(db.reader) as session:
        story = explain_click(session, clickid.strip(), db.settings.account_currency)
    if fmt is CheckFormat.json:
        _json(story)
        return
    c = story.click
    campaign = f"{c.campaign.name} (#{c.campaign.id})" if c.campaign else "-"
    offer = f"{c.offer.name} (#{c.offer.id})" if c.offer else "-"
    test = " [test]" if c.test else ""
    out.print(f"Click {c.clickid}{test} at {c.created_at:%Y-%m-%d %H:%M:%S} UTC")
    out.print(f"  campaign {escape(campaign)}, offer {escape(offer)}, tokens {c.tokens or '-'}")
    conversions = [
        {
            "conversion": v.id,
            "event": v.event,
            "status": v.status,
            "payout": f"{v.payout} {v.currency}",
            "history": " -> ".join(h.to_status for h in v.history),
        }
        for v in story.conversions
    ]
    _section(conversions, "Conversions", "no conversion for this click")
    postbacks = [
        {"log id": p.id, "received": f"{p.received_at:%Y-%m-%d %H:%M:%S}", "reason": p.reason}
        for p in story.postbacks
    ]
    _section(postbacks, "Postbacks received", "no postback named this click ID")
    deliveries = [
        {"delivery": d.id, "state": d.state, "attempts": d.attempts, "last": d.last_error or "-"}
        for d in story.deliveries
    ]
    _section(deliveries, "Postbacks sent", "nothing sent to the traffic source")


def _section(rows: list[dict[str, Any]], title: str, empty: str) -> None:
    if rows:
        emit(rows, Format.table, title=title)
    else:
        out.print(f"{title}: {empty}")


@check_app.command("replay")
def replay(
    log_id: Annotated[str, typer.Argument(help="A postback-log entry's id.")],
    fmt: FormatOpt = CheckFormat.table,
) -> None:
    """Re-run a logged postback against today's settings (dry run); exit 1 if still refused."""
    from postback.lab.service import replay as dry_run
    from postback.postback_log.service import get_entry

    with _database() as db:
        with Session(db.reader) as session:
            entry = get_entry(session, log_id.strip())
        result = dry_run(db.engine, db.settings, entry)
    if fmt is CheckFormat.json:
        _json(result)
    else:
        rows = [
            {"step": s.step, "verdict": s.verdict, "detail": _why(s.reason, s.detail)}
            for s in result.steps
        ]
        emit(rows, Format.table, title=f"Dry run of {result.log_id}")
        out.print(f"{result.outcome}: {escape(result.detail)}")
    if result.outcome not in _ACCEPTED:
        raise typer.Exit(1)


_ACCEPTED = ("accepted", "duplicate", "updated")


def _why(reason: str | None, detail: str | None) -> str:
    return ": ".join(part for part in (reason, detail) if part)
