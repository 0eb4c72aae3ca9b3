"""`/clicks`: the click log, newest first; `/clicks/{clickid}`: one click's whole story — its
context, its conversions with their history, the postbacks that named it, the deliveries.

The story is the postback lab's (lab/service.py `explain`), the same the admin API returns.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from postback.clicks import queries
from postback.dashboard.auth import UserDep
from postback.dashboard.debugger_common import PAGE_SIZE, names, page, read_listing, validate
from postback.dashboard.debugger_words import reason_text
from postback.dashboard.render import render
from postback.kit.deps import RuntimeDep
from postback.kit.fields import Filters, RowId
from postback.kit.ids import looks_like_click_id
from postback.kit.session import ReadSessionDep
from postback.lab import service as lab

router = APIRouter(include_in_schema=False)
ClickIdPath = Annotated[str, Path(min_length=1, max_length=64)]


class ClickFilters(Filters):
    campaign_id: RowId | None = None
    clickid: str | None = None


@router.get("/clicks", response_class=HTMLResponse)
def click_log(request: Request, user: UserDep, session: ReadSessionDep) -> HTMLResponse:
    listing = read_listing(request, ("campaign_id", "clickid"))
    labels = {"campaign_id": "campaign", "clickid": "click ID"}
    filters, problems = validate(ClickFilters, listing.values, labels)
    listing.errors += problems
    clickid = (filters.clickid or "").upper()
    if clickid and not looks_like_click_id(clickid):
        listing.errors.append("click ID: ours are 26 letters and digits, e.g. 01J9ZK3W5QF8...")
    rows: list[Any] = []
    cursor = listing.values.get("cursor")
    if not listing.errors:
        if clickid:
            found = queries.get_click(session, clickid)
            wanted = filters.campaign_id in (None, getattr(found, "campaign_id", None))
            rows = [found] if found is not None and wanted and cursor is None else []
        else:
            after = queries.get_click(session, cursor) if cursor else None
            if cursor and after is None:
                listing.errors.append("cursor: that click is gone; start again from the newest")
            else:
                rows = list(queries.list_clicks(session, filters.campaign_id, after, PAGE_SIZE + 1))
    shown, next_cursor = page(rows)
    context = {
        "listing": listing,
        "clicks": shown,
        "next": listing.link("/clicks", cursor=next_cursor) if next_cursor else None,
        "names": names(session),
    }
    return render(
        request, "debugger_clicks.html", context, status_code=400 if listing.errors else 200
    )


@router.get("/clicks/{clickid}", response_class=HTMLResponse)
def click_page(
    clickid: ClickIdPath,
    request: Request,
    user: UserDep,
    session: ReadSessionDep,
    runtime: RuntimeDep,
) -> HTMLResponse:
    story = lab.explain(session, clickid, runtime.settings.account_currency)  # 404 if none
    context = {
        "story": story,
        "row": queries.get_click(session, story.click.clickid),
        "names": names(session),
        "reason_text": reason_text,
    }
    return render(request, "debugger_click.html", context)
