"""`/conversions`: conversions newest first, filtered by campaign, status and days;
`/conversions/{id}`: one conversion with its status history (the ledger) and its deliveries.

Reads go through the admin API's queries (conversions/queries.py, deliveries/service.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from postback.conversions import queries
from postback.conversions.schemas import ConversionFilters
from postback.dashboard.auth import UserDep
from postback.dashboard.debugger_common import (
    PAGE_SIZE,
    day_bounds,
    names,
    page,
    read_listing,
    validate,
)
from postback.dashboard.debugger_words import reason_text
from postback.dashboard.render import render
from postback.deliveries import service as deliveries
from postback.deliveries.schemas import DeliveryFilters
from postback.kit.deps import RuntimeDep
from postback.kit.errors import NotFound
from postback.kit.ids import looks_like_click_id
from postback.kit.session import ReadSessionDep
from postback.postback_log import service as postback_log
from postback.postback_log.schemas import LogFilters

router = APIRouter(include_in_schema=False)
IdPath = Annotated[str, Path(min_length=1, max_length=64)]
STATUSES = ("approved", "pending", "rejected", "refunded", "chargeback")
# A conversion has one delivery per destination: a handful, bounded all the same.
MAX_DELIVERIES = 100
MAX_POSTBACKS = 50
LABELS = {"campaign_id": "campaign", "clickid": "click ID", "from_": "from", "to": "to"}


@router.get("/conversions", response_class=HTMLResponse)
def conversion_list(
    request: Request, user: UserDep, session: ReadSessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    listing = read_listing(request, ("campaign_id", "status", "clickid", "from", "to"))
    tz = runtime.settings.time_zone
    values = listing.values
    start, end = day_bounds(values.get("from"), values.get("to"), tz, listing.errors)
    data: dict[str, Any] = {
        k: values[k] for k in ("campaign_id", "status", "clickid") if k in values
    }
    data.update({"from": start, "to": end, "limit": PAGE_SIZE})
    filters, problems = validate(ConversionFilters, data, LABELS)
    listing.errors += problems
    rows: list[Any] = []
    if not listing.errors:
        cursor = values.get("cursor")
        rows = list(
            queries.list_conversions(session, filters, cursor and cursor.upper(), PAGE_SIZE + 1)
        )
    shown, next_cursor = page(rows)
    context = {
        "listing": listing,
        "conversions": shown,
        "next": listing.link("/conversions", cursor=next_cursor) if next_cursor else None,
        "names": names(session),
        "statuses": STATUSES,
        "tz": tz,
    }
    status = 400 if listing.errors else 200
    return render(request, "debugger_conversions.html", context, status_code=status)


@router.get("/conversions/{conversion_id}", response_class=HTMLResponse)
def conversion_page(
    conversion_id: IdPath, request: Request, user: UserDep, session: ReadSessionDep
) -> HTMLResponse:
    found = looks_like_click_id(conversion_id)
    row = queries.get_conversion(session, conversion_id.upper()) if found else None
    if row is None:
        raise NotFound(f"conversion {conversion_id!r} does not exist")
    wanted = DeliveryFilters(conversion_id=row.id, limit=MAX_DELIVERIES)
    # The log's click ID column is indexed; its conversion column is not.
    named = LogFilters(clickid=row.click_id, limit=MAX_POSTBACKS)
    context = {
        "conversion": row,
        "history": queries.status_history(session, row.id),
        "deliveries": deliveries.list_deliveries(session, wanted, None, MAX_DELIVERIES),
        "postbacks": postback_log.list_entries(session, named, None, MAX_POSTBACKS),
        "names": names(session),
        "reason_text": reason_text,
    }
    return render(request, "debugger_conversion.html", context)
