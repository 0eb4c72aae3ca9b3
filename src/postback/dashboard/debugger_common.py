"""What the debugger pages (clicks, conversions, postback log, deliveries) share: filters read
from the URL into the admin API's filter models, keyset pages, names for ids, and times.

Every list is newest first, one page of PAGE_SIZE rows at a time, continued with the id of the
last row shown (`cursor`): the query is always bounded, however large the tables grow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from postback.dashboard.render import env
from postback.kit.ids import looks_like_click_id
from postback.reports import queries as report_queries

PAGE_SIZE = 50
M = TypeVar("M", bound=BaseModel)


@dataclass
class Listing:
    """A list page's filters as the URL gave them, and the problems with them."""

    values: dict[str, str]
    errors: list[str]

    def link(self, path: str, **changes: str | None) -> str:
        params = {**self.values, **changes}
        query = urlencode({k: v for k, v in params.items() if v})
        return f"{path}?{query}" if query else path


def read_listing(request: Request, allowed: Iterable[str]) -> Listing:
    """The non-empty values of the allowed parameters (a GET form sends empty fields too);
    a parameter the page does not know is an error, not silently ignored."""
    names = set(allowed) | {"cursor"}
    values: dict[str, str] = {}
    errors: list[str] = []
    unknown = sorted({k for k in request.query_params if k not in names})
    if unknown:
        errors.append(f"unknown parameters: {', '.join(unknown)}")
    for name in names:
        value = request.query_params.get(name, "").strip()
        if "\x00" in value:
            errors.append(f"{name} must not contain NUL characters")
        elif value:
            values[name] = value
    cursor = values.get("cursor")
    if cursor is not None and not looks_like_click_id(cursor):
        errors.append("cursor: not a position this list gave; start again from the newest")
        values.pop("cursor")
    return Listing(values, errors)


def validate(model: type[M], data: dict[str, Any], labels: dict[str, str]) -> tuple[M, list[str]]:
    """`data` as the API's filter model; on a bad value, the problems as sentences and the
    model without filters (so the page still shows its form)."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "query"
            problems.append(f"{labels.get(name, name)}: {err['msg'].lower()}")
        return model.model_validate({}), problems


def day_bounds(
    raw_from: str | None, raw_to: str | None, tz: str, errors: list[str]
) -> tuple[datetime | None, datetime | None]:
    """Whole local days (both inclusive) in `tz`, as the [start, end) instants to filter on."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    bounds: list[datetime | None] = []
    for raw, extra in ((raw_from, 0), (raw_to, 1)):
        if not raw:
            bounds.append(None)
            continue
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            errors.append(f"{raw!r} is not a date such as 2024-03-31")
            bounds.append(None)
            continue
        bounds.append(datetime.combine(day + timedelta(days=extra), time(0), tzinfo=zone))
    start, end = bounds
    if start is not None and end is not None and start >= end:
        errors.append("the first day must not be after the last day")
    return start, end


def names(session: Session) -> dict[str, dict[int, str]]:
    """Names of campaigns, offers, traffic sources and networks by id (small config tables)."""
    return report_queries.names(session.connection())


def page(rows: list[Any], limit: int = PAGE_SIZE) -> tuple[list[Any], str | None]:
    """The rows to show and the cursor of the next page (rows were read with limit + 1)."""
    shown = rows[:limit]
    return shown, (str(shown[-1].id) if len(rows) > limit and shown else None)


def utc(moment: datetime | None) -> str:
    if moment is None:
        return "\u2013"
    return moment.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


# The debugger templates format times with `| utc`. Registered here, beside the pages that use
# it, rather than in render.py.
env.filters.setdefault("utc", utc)
