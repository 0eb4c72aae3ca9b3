"""`/api/v1/landers`: create, read, list, update, archive."""

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
from postback.landers import service
from postback.landers.schemas import LanderCreate, LanderOut, LanderUpdate
from postback.models import Lander

router = APIRouter(prefix="/landers", tags=["landers"], dependencies=REQUIRE_API_KEY)


def _out(lander: Lander) -> LanderOut:
    out = LanderOut.model_validate(lander)
    out.warnings = service.url_warnings(lander)
    return out


@router.get("", response_model=Page[LanderOut])
def list_landers(
    session: ReadSessionDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    include_archived: bool = False,
) -> Page[LanderOut]:
    rows = service.list_landers(session, int_cursor(cursor), limit + 1, include_archived)
    return page_of(rows, limit, _out, lambda lander: lander.id)


@router.post("", status_code=201, response_model=LanderOut)
def create_lander(body: LanderCreate, session: SessionDep, runtime: RuntimeDep) -> LanderOut:
    lander = service.create(session, body)
    config_changed(session, runtime)
    return _out(lander)


@router.get("/{lander_id}", response_model=LanderOut)
def get_lander(lander_id: IdPath, session: ReadSessionDep) -> LanderOut:
    return _out(service.get(session, lander_id))


@router.patch("/{lander_id}", response_model=LanderOut)
def update_lander(
    lander_id: IdPath, body: LanderUpdate, session: SessionDep, runtime: RuntimeDep
) -> LanderOut:
    lander = service.update(session, lander_id, body)
    config_changed(session, runtime)
    return _out(lander)


@router.delete("/{lander_id}", response_model=LanderOut)
def archive_lander(lander_id: IdPath, session: SessionDep, runtime: RuntimeDep) -> LanderOut:
    lander = service.archive(session, lander_id)
    config_changed(session, runtime)
    return _out(lander)
