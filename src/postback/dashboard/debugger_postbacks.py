"""`/postback-log`: every inbound postback with its outcome and its reason in plain words;
`/postback-log/{id}`: the whole request as logged (secrets are masked before it is stored)
and, for admins, a dry-run replay against today's configuration (lab/service.py `replay`)
that shows each pipeline step's verdict and writes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from postback.conversions.reasons import Reason
from postback.dashboard.auth import AdminPost, UserDep
from postback.dashboard.debugger_common import PAGE_SIZE, names, page, read_listing, validate
from postback.dashboard.debugger_words import reason_text, step_text
from postback.dashboard.render import render
from postback.kit.deps import RuntimeDep
from postback.kit.ids import looks_like_click_id
from postback.kit.session import ReadSessionDep
from postback.lab import service as lab
from postback.lab.schemas import ReplayOut
from postback.models import PostbackLogEntry
from postback.postback_log import service
from postback.postback_log.schemas import LogFilters

router = APIRouter(include_in_schema=False)
IdPath = Annotated[str, Path(min_length=1, max_length=64)]
OUTCOMES = ("accepted", "duplicate", "updated", "refused", "failed")
FILTERS = ("outcome", "reason", "network_id", "clickid")
LABELS = {"network_id": "network", "clickid": "click ID"}


@router.get("/postback-log", response_class=HTMLResponse)
def postback_log(request: Request, user: UserDep, session: ReadSessionDep) -> HTMLResponse:
    listing = read_listing(request, FILTERS)
    values = listing.values
    data: dict[str, Any] = {k: values[k] for k in FILTERS if k in values}
    filters, problems = validate(LogFilters, {**data, "limit": PAGE_SIZE}, LABELS)
    listing.errors += problems
    if filters.outcome and filters.outcome not in OUTCOMES:
        listing.errors.append(f"outcome must be one of {', '.join(OUTCOMES)}")
    if filters.reason and filters.reason not in set(Reason):
        listing.errors.append(f"{filters.reason!r} is not a reason code")
    rows: list[Any] = []
    if not listing.errors:
        cursor = values.get("cursor")
        rows = list(
            service.list_entries(session, filters, cursor and cursor.upper(), PAGE_SIZE + 1)
        )
    shown, next_cursor = page(rows)
    context = {
        "listing": listing,
        "entries": shown,
        "next": listing.link("/postback-log", cursor=next_cursor) if next_cursor else None,
        "names": names(session),
        "outcomes": OUTCOMES,
        "reasons": [r.value for r in Reason],
        "reason_text": reason_text,
    }
    status = 400 if listing.errors else 200
    return render(request, "debugger_postback_log.html", context, status_code=status)


def _entry_page(
    request: Request,
    entry: PostbackLogEntry,
    known: dict[str, dict[int, str]],
    replay: ReplayOut | None = None,
) -> HTMLResponse:
    context = {
        "entry": entry,
        "names": known,
        "replay": replay,
        "reason_text": reason_text,
        "step_text": step_text,
        "click_link": entry.click_id and looks_like_click_id(entry.click_id),
    }
    return render(request, "debugger_postback.html", context)


@router.get("/postback-log/{entry_id}", response_class=HTMLResponse)
def postback_entry(
    entry_id: IdPath, request: Request, user: UserDep, session: ReadSessionDep
) -> HTMLResponse:
    return _entry_page(request, service.get_entry(session, entry_id), names(session))


@router.post("/postback-log/{entry_id}/replay", response_class=HTMLResponse)
def replay_entry(
    entry_id: IdPath,
    request: Request,
    post: AdminPost,
    session: ReadSessionDep,
    runtime: RuntimeDep,
) -> HTMLResponse:
    """A dry run: the answer is rendered on the entry's page; nothing is stored."""
    entry = service.get_entry(session, entry_id)
    found = names(session)
    # Do not hold a read snapshot open while the dry run takes the write lock (SQLite).
    session.close()
    result = lab.replay(runtime.db.engine, runtime.settings, entry)
    return _entry_page(request, entry, found, result)
