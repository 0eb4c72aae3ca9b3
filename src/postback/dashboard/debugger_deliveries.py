"""`/deliveries`: outbound postbacks with their state, attempts and last error, newest first;
`/deliveries/{id}`: every attempt, and for admins a replay (deliveries/service.py
`replay_one`, as the admin API's): the delivery is queued again, due now, with a fresh
attempt budget, and the worker sends it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from postback.dashboard.auth import AdminPost, UserDep
from postback.dashboard.debugger_common import PAGE_SIZE, names, page, read_listing, validate
from postback.dashboard.debugger_words import STATES
from postback.dashboard.render import SECURITY_HEADERS, render
from postback.deliveries import service
from postback.deliveries.schemas import STATES as STATE_NAMES
from postback.deliveries.schemas import DeliveryFilters
from postback.kit.session import ReadSessionDep, SessionDep

router = APIRouter(include_in_schema=False)
IdPath = Annotated[str, Path(min_length=1, max_length=64)]
FILTERS = ("state", "traffic_source_id")
LABELS = {"traffic_source_id": "traffic source"}


@router.get("/deliveries", response_class=HTMLResponse)
def delivery_list(request: Request, user: UserDep, session: ReadSessionDep) -> HTMLResponse:
    listing = read_listing(request, FILTERS)
    values = listing.values
    data: dict[str, Any] = {k: values[k] for k in FILTERS if k in values}
    filters, problems = validate(DeliveryFilters, {**data, "limit": PAGE_SIZE}, LABELS)
    listing.errors += [p.replace("string should match pattern", "must be one of") for p in problems]
    rows: list[Any] = []
    if not listing.errors:
        cursor = values.get("cursor")
        before = cursor.upper() if cursor else None
        rows = list(service.list_deliveries(session, filters, before, PAGE_SIZE + 1))
    shown, next_cursor = page(rows)
    context = {
        "listing": listing,
        "deliveries": shown,
        "next": listing.link("/deliveries", cursor=next_cursor) if next_cursor else None,
        "names": names(session),
        "states": STATE_NAMES,
        "state_text": STATES,
    }
    status = 400 if listing.errors else 200
    return render(request, "debugger_deliveries.html", context, status_code=status)


@router.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
def delivery_page(
    delivery_id: IdPath,
    request: Request,
    user: UserDep,
    session: ReadSessionDep,
    replayed: Annotated[int | None, Query(ge=0, le=1)] = None,
) -> HTMLResponse:
    context = {
        "delivery": service.get_delivery(session, delivery_id),  # 404 if none
        "names": names(session),
        "state_text": STATES,
        "replayed": replayed,
    }
    return render(request, "debugger_delivery.html", context)


@router.post("/deliveries/{delivery_id}/replay")
def replay_delivery(delivery_id: IdPath, post: AdminPost, session: SessionDep) -> Response:
    count = service.replay_one(session, delivery_id)
    # Post/redirect/get: reloading the page shows it again rather than replaying twice.
    delivery = service.get_delivery(session, delivery_id)
    return RedirectResponse(
        f"/deliveries/{delivery.id}?replayed={min(count, 1)}",
        status_code=303,
        headers=SECURITY_HEADERS,
    )
