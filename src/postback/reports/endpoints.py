"""`/api/v1/reports`: the report as JSON, and its CSV or JSON export (streamed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from postback.api_keys.auth import REQUIRE_API_KEY
from postback.kit.session import ReadSessionDep
from postback.reports import service, skipped
from postback.reports.export import csv_chunks, json_chunks
from postback.reports.schemas import parse_query

router = APIRouter(prefix="/reports", tags=["reports"], dependencies=REQUIRE_API_KEY)

_DOC = (
    "Group by up to three of campaign, traffic_source, network, offer, country, device, os, "
    "browser, token.<name> (zone, placement, sub1..sub10 also bare), day, hour, week, month; "
    "filter with `<dimension>=v1,v2`. `from`/`to`: dates (inclusive) or ISO times on a "
    "15-minute boundary (`to` exclusive), in `tz`."
)


SKIPPED_DOC = (
    "Rows (clicks, ledger rows) the report fold could not take: left out of every report, "
    "which then equals the recorded rows without them, until `postback reports refold` "
    "folds them again. Listed with their errors at /api/v1/reports/skipped."
)


class ReportOut(BaseModel):
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    total_rows: int
    skipped_rows: int = Field(0, description=SKIPPED_DOC)


class SkippedRowOut(BaseModel):
    kind: Literal["click", "ledger"]
    row_id: str
    error: str
    first_seen: datetime
    last_seen: datetime
    attempts: int = Field(description="Folds in which the row failed alone.")


class SkippedOut(BaseModel):
    skipped_rows: int = Field(description=SKIPPED_DOC)
    rows: list[SkippedRowOut]


def _report(request: Request, session: ReadSessionDep, paginate: bool) -> service.Report:
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    query = parse_query(params, paginate=paginate)
    return service.run_report(service.snapshot(session), query)


@router.get("", response_model=ReportOut, description=_DOC)
def get_report(
    request: Request,
    session: ReadSessionDep,
    group_by: str = Query("", description="Comma-separated dimensions, at most three"),
    from_: str | None = Query(None, alias="from"),
    to: str | None = None,
    tz: str = "UTC",
) -> ReportOut:
    report = _report(request, session, paginate=True)
    return ReportOut(
        rows=report.rows,
        totals=report.totals,
        total_rows=report.total_rows,
        skipped_rows=report.skipped_rows,
    )


@router.get("/skipped", response_model=SkippedOut, description=SKIPPED_DOC)
def skipped_rows(session: ReadSessionDep, limit: int = Query(100, ge=1, le=1000)) -> SkippedOut:
    conn = session.connection()
    found = skipped.listing(conn, limit)
    rows = [SkippedRowOut.model_validate(row, from_attributes=True) for row in found]
    return SkippedOut(skipped_rows=skipped.count(conn), rows=rows)


@router.get("/export", description=_DOC)
def export_report(
    request: Request,
    session: ReadSessionDep,
    format: Literal["csv", "json"] = "csv",
) -> StreamingResponse:
    report = _report(request, session, paginate=False)
    if format == "csv":
        headers = {"content-disposition": 'attachment; filename="report.csv"'}
        return StreamingResponse(csv_chunks(report), media_type="text/csv", headers=headers)
    return StreamingResponse(json_chunks(report), media_type="application/json")
