"""The report question as the API and the CLI ask it, validated into a `ReportQuery`.

`from` and `to` are dates (whole days in `tz`, both inclusive) or ISO times (`to` exclusive;
naive times are in `tz`) on a 15-minute boundary. Filters are `dimension=value[,value...]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from postback.fraud import flags
from postback.kit.errors import Unprocessable
from postback.kit.fields import has_nul, is_digits
from postback.reports.dimensions import FRAUD, ID_DIMS, canonical
from postback.reports.periods import QUARTER, TIME_UNITS

MAX_GROUP_BY = 3
MAX_DAYS = 400
DEFAULT_DAYS = 7
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
COUNT_BY = ("conversion", "click", "both")
CONTROL = frozenset(
    {"group_by", "from", "to", "tz", "sort", "order", "limit", "offset", "count_by"}
    | {"include_test", "format"}
)


@dataclass(frozen=True)
class ReportQuery:
    group_by: tuple[str, ...]
    filters: dict[str, tuple[Any, ...]]
    start: datetime
    end: datetime
    zone: ZoneInfo
    count_by: str = "conversion"
    include_test: bool = False
    sort: str | None = None
    descending: bool = True
    limit: int | None = DEFAULT_LIMIT
    offset: int = 0

    @property
    def bases(self) -> tuple[int, ...]:
        return {"conversion": (0,), "click": (1,), "both": (0, 1)}[self.count_by]


@dataclass
class _Errors:
    items: list[dict[str, str]] = field(default_factory=list)

    def add(self, name: str, message: str) -> None:
        self.items.append({"field": name, "message": message})

    def raise_any(self) -> None:
        if self.items:
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in self.items)
            raise Unprocessable(detail, extra=self.items)


def parse_query(params: Mapping[str, Sequence[str]], *, paginate: bool = True) -> ReportQuery:
    """Validate raw query parameters (name -> values); every problem is one 422 field error."""
    errors = _Errors()
    one = {k: (v[-1] if v else "") for k, v in params.items()}
    if any(has_nul(v) for vs in params.values() for v in vs):
        errors.add("query", "must not contain NUL characters")
        errors.raise_any()
    zone = _zone(one.get("tz") or "UTC", errors)
    group_by = _group_by(one.get("group_by", ""), errors)
    filters = _filters(params, errors)
    start, end = _range(one.get("from"), one.get("to"), zone, errors)
    count_by = one.get("count_by") or "conversion"
    if count_by not in COUNT_BY:
        errors.add("count_by", f"must be one of {', '.join(COUNT_BY)}")
    limit, offset = _page(one, errors, paginate)
    order = one.get("order") or "desc"
    if order not in ("asc", "desc"):
        errors.add("order", "must be asc or desc")
    errors.raise_any()
    assert zone is not None and start is not None and end is not None
    return ReportQuery(
        group_by=group_by,
        filters=filters,
        start=start,
        end=end,
        zone=zone,
        count_by=count_by,
        include_test=one.get("include_test", "").lower() in ("1", "true", "yes"),
        sort=one.get("sort") or None,
        descending=order == "desc",
        limit=limit,
        offset=offset,
    )


def _zone(name: str, errors: _Errors) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        errors.add("tz", f"{name!r} is not an IANA time zone, e.g. Europe/Berlin")
        return None


def _group_by(raw: str, errors: _Errors) -> tuple[str, ...]:
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if len(names) > MAX_GROUP_BY:
        errors.add("group_by", f"at most {MAX_GROUP_BY} dimensions at once")
    dims = []
    for name in names:
        dim = canonical(name)
        if dim is None:
            errors.add("group_by", f"{name!r} is not a dimension")
        elif dim in dims:
            errors.add("group_by", f"{name!r} is given twice")
        else:
            dims.append(dim)
    return tuple(dims)


def _filters(params: Mapping[str, Sequence[str]], errors: _Errors) -> dict[str, tuple[Any, ...]]:
    filters: dict[str, tuple[Any, ...]] = {}
    for name, raw in params.items():
        if name in CONTROL:
            continue
        dim = canonical(name)
        if dim is None or dim in TIME_UNITS:
            errors.add(name, "is not a parameter or a dimension to filter on")
            continue
        values = [v.strip() for item in raw for v in item.split(",") if v.strip()]
        if dim in ID_DIMS:
            if not all(is_digits(v, 9) for v in values):
                errors.add(name, "must be ids, e.g. 3 or 3,4")
                continue
            filters[dim] = tuple(int(v) for v in values)
        elif dim == FRAUD:
            wrong = flags.unknown(values)
            if wrong:
                known = ", ".join([*flags.NAMES, flags.NONE, flags.ANY])
                errors.add(name, f"{wrong[0]!r} is not a fraud flag; one of {known}")
                continue
            filters[dim] = tuple(v.lower() for v in values)
        else:
            filters[dim] = tuple(values)
    return filters


def _range(
    raw_from: str | None, raw_to: str | None, zone: ZoneInfo | None, errors: _Errors
) -> tuple[datetime | None, datetime | None]:
    if zone is None:
        return None, None
    today = datetime.now(zone).date()
    start = _moment(raw_from, zone, "from", errors, end=False)
    end = _moment(raw_to, zone, "to", errors, end=True)
    if raw_from is None and raw_to is None:
        start = _midnight(today - timedelta(days=DEFAULT_DAYS - 1), zone)
        end = _midnight(today + timedelta(days=1), zone)
    elif raw_from is None and end is not None:
        start = end - timedelta(days=DEFAULT_DAYS)
    elif raw_to is None and start is not None:
        end = _midnight(today + timedelta(days=1), zone)
    if start is not None and end is not None:
        if start >= end:
            errors.add("from", "must be before to")
        elif end - start > timedelta(days=MAX_DAYS):
            errors.add("to", f"the range may span at most {MAX_DAYS} days")
    return start, end


def _moment(
    raw: str | None, zone: ZoneInfo, name: str, errors: _Errors, *, end: bool
) -> datetime | None:
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return _midnight(day + timedelta(days=1) if end else day, zone)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        errors.add(name, "must be a date (2024-03-31) or an ISO time (2024-03-31T18:15)")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if moment.timestamp() % QUARTER or not 0 < moment.timestamp() < 2**37:
        errors.add(name, "must be on a 15-minute boundary (reports are exact to 15 minutes)")
        return None
    return moment


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _page(one: Mapping[str, str], errors: _Errors, paginate: bool) -> tuple[int | None, int]:
    limit: int | None = DEFAULT_LIMIT if paginate else None
    offset = 0
    for name in ("limit", "offset"):
        raw = one.get(name)
        if raw is None:
            continue
        if not is_digits(raw) or (name == "limit" and not 1 <= int(raw) <= MAX_LIMIT):
            bound = f"1 to {MAX_LIMIT}" if name == "limit" else "0 or more"
            errors.add(name, f"must be a whole number, {bound}")
        elif name == "limit":
            limit = int(raw)
        else:
            offset = min(int(raw), 10**9)
    return limit, offset
