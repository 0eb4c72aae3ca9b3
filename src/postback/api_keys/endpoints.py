"""`/api/v1/api-keys`: list, create (the key is shown once), revoke."""

from __future__ import annotations

from fastapi import APIRouter

from postback.api_keys import service
from postback.api_keys.auth import REQUIRE_API_KEY, forget_verified_keys
from postback.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from postback.kit.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    IdPath,
    LimitQuery,
    Page,
    int_cursor,
    page_of,
)
from postback.kit.session import ReadSessionDep, SessionDep, after_commit
from postback.models import ApiKey

router = APIRouter(prefix="/api-keys", tags=["api keys"], dependencies=REQUIRE_API_KEY)


def _out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(key)


@router.get("", response_model=Page[ApiKeyOut])
def list_api_keys(
    session: ReadSessionDep, limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None
) -> Page[ApiKeyOut]:
    keys = service.list_keys(session, int_cursor(cursor), limit + 1)
    return page_of(keys, limit, _out, lambda k: k.id)


@router.post("", status_code=201, response_model=ApiKeyCreated)
def create_api_key(body: ApiKeyCreate, session: SessionDep) -> ApiKeyCreated:
    key, plaintext = service.create_key(session, body.name)
    return ApiKeyCreated(**_out(key).model_dump(), key=plaintext)


@router.get("/{key_id}", response_model=ApiKeyOut)
def get_api_key(key_id: IdPath, session: ReadSessionDep) -> ApiKeyOut:
    return _out(service.get_key(session, key_id))


@router.delete("/{key_id}", response_model=ApiKeyOut)
def revoke_api_key(key_id: IdPath, session: SessionDep) -> ApiKeyOut:
    key = service.revoke_key(session, key_id)
    after_commit(session, forget_verified_keys)
    return _out(key)
