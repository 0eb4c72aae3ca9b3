"""`/`: clicks, conversions and money over the chosen range, the totals and the top campaigns.

Every figure comes from the reports query layer (reports/service.py), in one snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from postback.dashboard import charts, formatting
from postback.dashboard.auth import UserDep
from postback.dashboard.ranges import PRESETS, DateRange, parse_range, zone_names
from postback.dashboard.render import render
from postback.kit.deps import RuntimeDep
from postback.kit.session import ReadSessionDep
from postback.reports import service
from postback.reports.schemas import parse_query

TOP_CAMPAIGNS = 10
router = APIRouter(include_in_schema=False)


@dataclass
class Overview:
    keys: list[str]  # the report's period labels, one per chart slot
    labels: list[str]  # the same, short, for axes and tables
    clicks: list[int]
    conversions: list[int]
    revenue: list[Decimal]
    cost: list[Decimal]
    profit: list[Decimal]
    totals: dict[str, Any]
    campaigns: list[dict[str, Any]]


def periods(rng: DateRange) -> list[str]:
    """Every day or hour of the range as the report labels it, data or not."""
    if rng.unit == "day":
        return [(rng.first + timedelta(days=i)).isoformat() for i in range(rng.days)]
    zone = ZoneInfo(rng.tz)
    moment = datetime.combine(rng.first, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(rng.last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    keys = []
    while moment < end:  # in UTC steps, so a DST day has its 23 or 25 hours
        keys.append(moment.astimezone(zone).isoformat(timespec="minutes"))
        moment += timedelta(hours=1)
    return keys


def _short(key: str, unit: str) -> str:
    return key[11:16] if unit == "hour" else key


def load_overview(session: Session, rng: DateRange) -> Overview:
    conn = service.snapshot(session)
    base = rng.report_params()
    by_period = service.run_report(
        conn, parse_query({**base, "group_by": [rng.unit]}, paginate=False)
    )
    top = service.run_report(
        conn,
        parse_query(
            {**base, "group_by": ["campaign"], "sort": ["revenue"], "limit": [str(TOP_CAMPAIGNS)]}
        ),
    )
    rows = {row[rng.unit]: row for row in by_period.rows}
    keys = periods(rng)
    empty: dict[str, Any] = {"clicks": 0, "conversions": 0, "revenue": "0", "cost": "0"}
    found = [rows.get(k, empty) for k in keys]
    revenue = [Decimal(r["revenue"]) for r in found]
    cost = [Decimal(r["cost"]) for r in found]
    return Overview(
        keys=keys,
        labels=[_short(k, rng.unit) for k in keys],
        clicks=[int(r["clicks"]) for r in found],
        conversions=[int(r["conversions"]) for r in found],
        revenue=revenue,
        cost=cost,
        profit=[r - c for r, c in zip(revenue, cost, strict=True)],
        totals=by_period.totals,
        campaigns=top.rows,
    )


def _charts(data: Overview, currency: str, unit: str) -> dict[str, Any]:
    per = "per hour" if unit == "hour" else "per day"

    def count(v: charts.Value) -> str:
        return formatting.number(int(v))

    def money(v: charts.Value) -> str:
        return formatting.money(Decimal(v))

    return {
        "clicks": charts.bar_chart(
            "chart-clicks", f"Clicks {per}", data.labels,
            charts.Series("Clicks", data.clicks, "series-1"), count,
        ),
        "conversions": charts.bar_chart(
            "chart-conversions", f"Conversions {per}", data.labels,
            charts.Series("Conversions", data.conversions, "series-2"), count,
        ),
        "money": charts.line_chart(
            "chart-money", f"Revenue, cost and profit {per} ({currency})", data.labels,
            [
                charts.Series("Revenue", data.revenue, "series-1"),
                charts.Series("Cost", data.cost, "series-3"),
                charts.Series("Profit", data.profit, "series-2"),
            ],
            money,
        ),
    }  # fmt: skip


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request, user: UserDep, session: ReadSessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    rng, errors = parse_range(request.query_params, runtime.settings.time_zone)
    context: dict[str, Any] = {
        "range": rng,
        "presets": PRESETS,
        "zones": zone_names(),
        "errors": errors,
        "data": None,
    }
    if errors:
        return render(request, "overview.html", context, status_code=400)
    data = load_overview(session, rng)
    context.update(data=data, charts=_charts(data, runtime.settings.account_currency, rng.unit))
    return render(request, "overview.html", context)
