"""`/reports`: the report builder, and `/reports/export.csv`, the same report as a CSV file.

The whole question is in the URL (the form submits with GET), so a report can be bookmarked
and shared. Every figure comes from the reports query layer (reports/service.py); the page only
translates its form into the report API's parameters and lays out the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from postback.dashboard.auth import UserDep
from postback.dashboard.ranges import PRESETS, DateRange, parse_range, zone_names
from postback.dashboard.render import SECURITY_HEADERS, render
from postback.kit.deps import RuntimeDep
from postback.kit.errors import Unprocessable
from postback.kit.fields import is_digits
from postback.kit.session import ReadSessionDep
from postback.reports import queries, service
from postback.reports.dimensions import ID_DIMS, TOKEN_ALIASES, TOKEN_PREFIX, canonical
from postback.reports.export import csv_chunks
from postback.reports.metrics import Sums, metrics
from postback.reports.periods import TIME_UNITS
from postback.reports.schemas import MAX_GROUP_BY, parse_query

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
MAX_PAGE = 100_000
FILTER_ROWS = 3
PARAMS = frozenset(
    {"range", "from", "to", "tz", "group_by", "filter_by", "filter_value", "sort", "order"}
    | {"count_by", "include_test", "page"}
)
CLOCKS = {
    "conversion": "by conversion time",
    "click": "by click time",
    "both": "both, side by side",
}
DIMENSIONS: dict[str, str] = {
    "campaign": "Campaign",
    "traffic_source": "Traffic source",
    "network": "Network",
    "offer": "Offer",
    "lander": "Lander",
    "country": "Country",
    "device": "Device",
    "os": "OS",
    "browser": "Browser",
    "conversion_source": "Conversion source",
    "fraud": "Fraud flags",
    "day": "Day",
    "hour": "Hour",
    "week": "Week",
    "month": "Month",
    **{TOKEN_PREFIX + name: f"Token {name}" for name in sorted(TOKEN_ALIASES)},
}
# Metric -> (heading, how it is shown). Metrics not listed here are sortable under their name.
METRICS: dict[str, tuple[str, str]] = {
    "clicks": ("Clicks", "number"),
    "unique_clicks": ("Unique clicks", "number"),
    "conversions": ("Conversions", "number"),
    "approved": ("Approved", "number"),
    "pending": ("Pending", "number"),
    "rejected": ("Rejected", "number"),
    "cr": ("CR", "percent"),
    "revenue": ("Revenue", "money"),
    "sale_amount": ("Sale amount", "money"),
    "cost": ("Cost", "money"),
    "profit": ("Profit", "money"),
    "roi": ("ROI", "percent"),
    "epc": ("EPC", "money"),
    "cpa": ("CPA", "money"),
}
SIDE_BY_SIDE = ("conversions", "cr", "revenue", "cost", "profit", "roi")
CLICK_TIME = "click_time_"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str  # number, money, percent, or dimension


@dataclass
class Builder:
    """The report form's state, read from the URL and written back into links."""

    range: DateRange
    group_by: list[str] = field(default_factory=list)
    filters: list[tuple[str, str]] = field(default_factory=list)
    sort: str = ""
    order: str = "desc"
    count_by: str = "conversion"
    include_test: bool = False
    page: int = 1

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        state = replace(self, **changes)
        rng = state.range
        pairs: list[tuple[str, str]] = (
            [("range", rng.preset)]
            if rng.preset
            else [("from", rng.first.isoformat()), ("to", rng.last.isoformat())]
        )
        pairs.append(("tz", rng.tz))
        pairs += [("group_by", dim) for dim in state.group_by]
        for dim, value in state.filters:
            pairs += [("filter_by", dim), ("filter_value", value)]
        if state.sort:
            pairs += [("sort", state.sort), ("order", state.order)]
        if state.count_by != "conversion":
            pairs.append(("count_by", state.count_by))
        if state.include_test:
            pairs.append(("include_test", "1"))
        if state.page > 1:
            pairs.append(("page", str(state.page)))
        return pairs

    def query(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))

    def preset_query(self, preset: str) -> str:
        return self.query(range=replace(self.range, preset=preset), page=1)

    def report_params(
        self, named: dict[str, dict[int, str]], *, paginate: bool
    ) -> dict[str, list[str]]:
        """The report API's parameters (reports/schemas.py) for this form; campaigns, sources,
        offers and networks may be filtered by name as well as by id."""
        out = self.range.report_params()
        out["group_by"] = [",".join(self.group_by)]
        for dim, value in self.filters:
            out.setdefault(dim, []).append(_id_of(dim, value, named))
        if self.sort:
            out["sort"], out["order"] = [self.sort], [self.order]
        out["count_by"] = [self.count_by]
        out["include_test"] = ["1" if self.include_test else "0"]
        if paginate:
            out["limit"] = [str(PAGE_SIZE)]
            out["offset"] = [str((self.page - 1) * PAGE_SIZE)]
        return out


def read_builder(request: Request, default_tz: str) -> tuple[Builder, list[str]]:
    """The form's state from the URL, and what is wrong with it (each a readable sentence)."""
    params = request.query_params
    rng, errors = parse_range(params, default_tz)
    builder = Builder(rng)
    unknown = sorted({name for name in params if name not in PARAMS})
    if unknown:
        errors.append(f"unknown parameters: {', '.join(unknown)}")
    _read_group_by(params.getlist("group_by"), builder, errors)
    _read_filters(params.getlist("filter_by"), params.getlist("filter_value"), builder, errors)
    builder.sort = params.get("sort", "").strip()
    builder.order = params.get("order") or "desc"
    if builder.order not in ("asc", "desc"):
        errors.append("order must be asc or desc")
        builder.order = "desc"
    builder.count_by = params.get("count_by") or "conversion"
    if builder.count_by not in CLOCKS:
        errors.append(f"count_by must be one of {', '.join(CLOCKS)}")
        builder.count_by = "conversion"
    builder.include_test = params.get("include_test", "").lower() in ("1", "true", "on", "yes")
    raw_page = params.get("page") or "1"
    if not is_digits(raw_page) or not 1 <= int(raw_page) <= MAX_PAGE:
        errors.append(f"page must be a whole number from 1 to {MAX_PAGE:,}")
    else:
        builder.page = int(raw_page)
    return builder, errors


def _read_group_by(raw: list[str], builder: Builder, errors: list[str]) -> None:
    for name in (n.strip() for n in raw):
        if not name:
            continue
        dim = canonical(name)
        if dim is None:
            errors.append(f"{name!r} is not a dimension to group by")
        elif dim in builder.group_by:
            errors.append(f"{DIMENSIONS.get(dim, dim)} is chosen twice in group by")
        else:
            builder.group_by.append(dim)
    if len(builder.group_by) > MAX_GROUP_BY:
        errors.append(f"group by at most {MAX_GROUP_BY} dimensions at once")
        del builder.group_by[MAX_GROUP_BY:]


def _read_filters(dims: list[str], values: list[str], builder: Builder, errors: list[str]) -> None:
    if len(dims) > 20 or len(values) > 20:
        errors.append("at most 20 filters")
        return
    for raw_dim, raw_value in zip(dims, values, strict=False):
        name, value = raw_dim.strip(), raw_value.strip()
        if not name and not value:
            continue
        dim = canonical(name) if name else None
        if dim is None or dim in TIME_UNITS:
            errors.append(f"filter: {name or '(nothing)'!r} is not a dimension to filter on")
        elif not value:
            errors.append(f"filter: give a value for {DIMENSIONS.get(dim, dim)}")
        elif len(value) > 200:
            errors.append("filter: a value may be at most 200 characters")
        else:
            builder.filters.append((dim, value))


def _id_of(dim: str, value: str, named: dict[str, dict[int, str]]) -> str:
    if dim not in ID_DIMS or is_digits(value):
        return value
    wanted = value.casefold()
    found = [i for i, name in named.get(dim, {}).items() if name.casefold() == wanted]
    if len(found) != 1:
        what = "no" if not found else "more than one"
        label = DIMENSIONS.get(dim, dim).lower()
        raise Unprocessable(f"filter: {what} {label} is named {value!r}")
    return str(found[0])


def columns(builder: Builder) -> list[Column]:
    dims = [Column(d, DIMENSIONS.get(d, d), "dimension") for d in builder.group_by]
    if builder.count_by != "both":
        return dims + [Column(k, label, kind) for k, (label, kind) in METRICS.items()]
    shown = [Column(k, *METRICS[k]) for k in ("clicks", "unique_clicks")]
    for key in SIDE_BY_SIDE:
        label, kind = METRICS[key]
        shown.append(Column(key, f"{label} (conversion time)", kind))
        shown.append(Column(CLICK_TIME + key, f"{label} (click time)", kind))
    return dims + shown


def sort_choices(builder: Builder) -> list[tuple[str, str]]:
    bases = {"conversion": (0,), "click": (1,), "both": (0, 1)}[builder.count_by]
    names = [k for k, v in metrics(Sums(), bases).items() if not isinstance(v, dict)]
    return [(k, _metric_label(k)) for k in names]


def _metric_label(key: str) -> str:
    if key.startswith(CLICK_TIME):
        base = key[len(CLICK_TIME) :]
        return f"{METRICS[base][0] if base in METRICS else base} (click time)"
    return METRICS[key][0] if key in METRICS else key.replace("_", " ")


def run(session: Session, builder: Builder, *, paginate: bool) -> service.Report:
    conn = service.snapshot(session)
    named = queries.names(conn) if ID_DIMS & {d for d, _ in builder.filters} else {}
    params = builder.report_params(named, paginate=paginate)
    return service.run_report(conn, parse_query(params, paginate=paginate))


def dimension_text(row: dict[str, Any], dim: str) -> str:
    value = row.get(dim)
    if dim in ID_DIMS:
        name = row.get(f"{dim}_name")
        return name or (f"{DIMENSIONS.get(dim, dim).lower()} {value}" if value else "(none)")
    return "(none)" if value in (None, "") else str(value)


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request, user: UserDep, session: ReadSessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    builder, errors = read_builder(request, runtime.settings.time_zone)
    report = None
    if not errors:
        try:
            report = run(session, builder, paginate=True)
        except Unprocessable as exc:
            errors = [part.strip() for part in exc.detail.split(";")]
    context: dict[str, Any] = {
        "b": builder,
        "report": report,
        "errors": errors,
        "columns": columns(builder),
        "dimensions": _dimension_choices(builder),
        "filter_rows": [*builder.filters, *[("", "")] * max(0, FILTER_ROWS - len(builder.filters))],
        "group_slots": [*builder.group_by, *[""] * (MAX_GROUP_BY - len(builder.group_by))],
        "sorts": sort_choices(builder),
        "clocks": CLOCKS,
        "presets": PRESETS,
        "zones": zone_names(),
        "page_size": PAGE_SIZE,
        "pages": 0 if report is None else -(-report.total_rows // PAGE_SIZE),
        "dimension_text": dimension_text,
    }
    return render(request, "reports.html", context, status_code=422 if errors else 200)


def _dimension_choices(builder: Builder) -> dict[str, str]:
    """The offered dimensions plus any other token a bookmarked URL names."""
    extra = {d: d for d in [*builder.group_by, *(d for d, _ in builder.filters)]}
    return {**DIMENSIONS, **{k: v for k, v in extra.items() if k not in DIMENSIONS}}


@router.get("/reports/export.csv")
def export_csv(
    request: Request, user: UserDep, session: ReadSessionDep, runtime: RuntimeDep
) -> Response:
    builder, errors = read_builder(request, runtime.settings.time_zone)
    if errors:
        raise Unprocessable("; ".join(errors))
    report = run(session, builder, paginate=False)
    rng = builder.range
    filename = f"report-{rng.first.isoformat()}-{rng.last.isoformat()}.csv"
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    return StreamingResponse(csv_chunks(report), media_type="text/csv", headers=headers)
