"""`postback deliveries`: outbound postbacks by state, their attempts, and replay."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from sqlalchemy.orm import Session

from postback.cli.app import CliError, app
from postback.cli.output import Format, FormatOpt, emit, out
from postback.config import Settings

deliveries_app = typer.Typer(help="Outbound postbacks: list, show attempts, replay.")
app.add_typer(deliveries_app, name="deliveries")

StateOpt = Annotated[
    str | None, typer.Option(help="pending, delivering, delivered, dead or disabled.")
]
SourceOpt = Annotated[int | None, typer.Option("--source", help="Traffic source id.")]
FromOpt = Annotated[str | None, typer.Option("--from", help="Queued at or after (ISO time).")]
ToOpt = Annotated[str | None, typer.Option(help="Queued before (ISO time).")]


@contextmanager
def _session() -> Iterator[Session]:
    from postback.kit.db import Database

    db = Database(Settings())
    try:
        with db.session() as session:
            yield session
    finally:
        db.dispose()


def _validated(model: Any, values: dict[str, Any]) -> Any:
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise CliError(f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None


@deliveries_app.command("list")
def list_deliveries(
    state: StateOpt = None,
    source: SourceOpt = None,
    from_: FromOpt = None,
    to: ToOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    fmt: FormatOpt = Format.table,
) -> None:
    """The newest deliveries first, filtered by state, source and time."""
    from postback.deliveries import service
    from postback.deliveries.schemas import DeliveryFilters

    filters = _validated(
        DeliveryFilters,
        {"state": state, "traffic_source_id": source, "from": from_, "to": to, "limit": limit},
    )
    with _session() as session:
        rows = [_row(d) for d in service.list_deliveries(session, filters, None, limit)]
    emit(rows, fmt, title="Deliveries")


def _row(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "state": d.state,
        "attempts": d.attempts,
        "last_status": d.last_status_code,
        "next_attempt_at": d.next_attempt_at.isoformat(timespec="seconds"),
        "url": d.url,
        "last_error": d.last_error or "",
    }


@deliveries_app.command("show")
def show(delivery_id: str, fmt: FormatOpt = Format.table) -> None:
    """One delivery with every attempt: URL, status, latency, response."""
    from postback.deliveries import service

    with _session() as session:
        detail = service.get_delivery(session, delivery_id)
    if fmt is Format.json:
        out.print_json(detail.model_dump_json())
        return
    out.print(f"[bold]{detail.id}[/] {detail.state}, {detail.attempts} attempt(s)")
    out.print(f"  {escape(detail.method)} {escape(detail.url)}")
    attempts = [
        {
            "n": a.number,
            "at": a.started_at.isoformat(timespec="seconds"),
            "outcome": a.outcome,
            "status": a.status_code,
            "ms": a.latency_ms,
            "error_or_response": (a.error or a.response_snippet or "")[:80],
        }
        for a in detail.attempt_log
    ]
    emit(attempts, fmt, title="Attempts")


@deliveries_app.command("replay")
def replay(
    delivery_id: Annotated[str | None, typer.Argument(help="One delivery; or use filters.")] = None,
    state: Annotated[str, typer.Option(help="Which finished ones to send again.")] = "dead",
    source: SourceOpt = None,
    from_: FromOpt = None,
    to: ToOpt = None,
) -> None:
    """Send deliveries again now: one by id, or a filtered set (all dead letters by default)."""
    from postback.deliveries import service
    from postback.deliveries.schemas import ReplayRequest

    with _session() as session:
        if delivery_id is not None:
            count = service.replay_one(session, delivery_id)
        else:
            request = _validated(
                ReplayRequest,
                {"state": state, "traffic_source_id": source, "from": from_, "to": to},
            )
            count = service.replay_many(session, request)
    out.print(f"{count} deliveries queued again")
