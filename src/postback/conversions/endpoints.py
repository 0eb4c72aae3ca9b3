"""`/api/v1/conversions`: list (newest first, keyset pages) and read one with its history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from postback.api_keys.auth import REQUIRE_API_KEY
from postback.conversions import queries
from postback.conversions.schemas import (
    ConversionDetail,
    ConversionFilters,
    ConversionOut,
    StatusChangeOut,
)
from postback.kit.deps import RuntimeDep
from postback.kit.errors import NotFound
from postback.kit.ids import looks_like_click_id
from postback.kit.pagination import Page, page_of, ulid_cursor
from postback.kit.session import ReadSessionDep
from postback.models import Conversion

router = APIRouter(prefix="/conversions", tags=["conversions"], dependencies=REQUIRE_API_KEY)

ConversionIdPath = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("", response_model=Page[ConversionOut])
def list_conversions(
    filters: Annotated[ConversionFilters, Query()], session: ReadSessionDep, runtime: RuntimeDep
) -> Page[ConversionOut]:
    currency = runtime.settings.account_currency

    def out(row: Conversion) -> ConversionOut:
        return ConversionOut.model_validate(row).model_copy(update={"currency": currency})

    before = ulid_cursor(filters.cursor)
    rows = queries.list_conversions(session, filters, before, filters.limit + 1)
    return page_of(rows, filters.limit, out, lambda c: c.id)


@router.get("/{conversion_id}", response_model=ConversionDetail)
def get_conversion(
    conversion_id: ConversionIdPath, session: ReadSessionDep, runtime: RuntimeDep
) -> ConversionDetail:
    found = looks_like_click_id(conversion_id)
    row = queries.get_conversion(session, conversion_id.upper()) if found else None
    if row is None:
        raise NotFound(f"conversion {conversion_id!r} does not exist")
    detail = ConversionDetail.model_validate(row)
    history = queries.status_history(session, row.id)
    return detail.model_copy(
        update={
            "currency": runtime.settings.account_currency,
            "history": [StatusChangeOut.model_validate(h) for h in history],
        }
    )
