"""`/api/v1/traffic-sources`: create, read, list, update, archive."""

from __future__ import annotations

from fastapi import APIRouter

from postback.api_keys.auth import REQUIRE_API_KEY
from postback.kit.deps import RuntimeDep
from postback.kit.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    IdPath,
    LimitQuery,
    Page,
    int_cursor,
    page_of,
)
from postback.kit.session import ReadSessionDep, SessionDep, config_changed
from postback.models import TrafficSource
from postback.traffic_sources import service
from postback.traffic_sources.schemas import (
    TrafficSourceCreate,
    TrafficSourceOut,
    TrafficSourceUpdate,
)

router = APIRouter(
    prefix="/traffic-sources", tags=["traffic sources"], dependencies=REQUIRE_API_KEY
)


def _out(source: TrafficSource, *, reveal: bool = True) -> TrafficSourceOut:
    out = TrafficSourceOut.model_validate(source)
    out.warnings = service.url_warnings(source)
    if not reveal and source.postback_signing_secret:
        # Lists are shown and logged; the secret is read one source at a time.
        out.postback_signing_secret = "whsec_****"
    if not reveal:
        out.postback_url = service.masked_postback_url(source)
    return out


@router.get("", response_model=Page[TrafficSourceOut])
def list_traffic_sources(
    session: ReadSessionDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    include_archived: bool = False,
) -> Page[TrafficSourceOut]:
    rows = service.list_sources(session, int_cursor(cursor), limit + 1, include_archived)
    return page_of(rows, limit, lambda s: _out(s, reveal=False), lambda s: s.id)


@router.post("", status_code=201, response_model=TrafficSourceOut)
def create_traffic_source(
    body: TrafficSourceCreate, session: SessionDep, runtime: RuntimeDep
) -> TrafficSourceOut:
    source = service.create(session, body)
    config_changed(session, runtime)
    return _out(source)


@router.get("/{source_id}", response_model=TrafficSourceOut)
def get_traffic_source(source_id: IdPath, session: ReadSessionDep) -> TrafficSourceOut:
    return _out(service.get(session, source_id))


@router.patch("/{source_id}", response_model=TrafficSourceOut)
def update_traffic_source(
    source_id: IdPath, body: TrafficSourceUpdate, session: SessionDep, runtime: RuntimeDep
) -> TrafficSourceOut:
    source = service.update(session, source_id, body)
    config_changed(session, runtime)
    return _out(source)


@router.delete("/{source_id}", response_model=TrafficSourceOut)
def archive_traffic_source(
    source_id: IdPath, session: SessionDep, runtime: RuntimeDep
) -> TrafficSourceOut:
    source = service.archive(session, source_id)
    config_changed(session, runtime)
    return _out(source)
