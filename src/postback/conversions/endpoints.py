"""`/api/v1/conversions`: list (newest first, keyset pages), read one with its history, record
one by hand and change its status (conversions/manual.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from postback.api_keys.auth import REQUIRE_API_KEY, ApiKeyDep
from postback.conversions import manual, queries
from postback.conversions.reasons import Reason
from postback.conversions.records import Outcome
from postback.conversions.schemas import (
    ConversionCreate,
    ConversionDetail,
    ConversionFilters,
    ConversionOut,
    ConversionWritten,
    StatusChange,
    StatusChangeOut,
)
from postback.kit.deps import RuntimeDep
from postback.kit.errors import NotFound
from postback.kit.ids import looks_like_click_id
from postback.kit.pagination import Page, page_of, ulid_cursor
from postback.kit.session import ReadSessionDep, SessionDep
from postback.models import Conversion

router = APIRouter(prefix="/conversions", tags=["conversions"], dependencies=REQUIRE_API_KEY)

ConversionIdPath = Annotated[str, Path(min_length=1, max_length=64)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_found`, or `unknown_click` for a click ID we never gave out"},
    409: {"description": "`duplicate` under the network's duplicate mode, `outside_window`"},
    422: {"description": "`validation_error`, with the fields at fault"},
}


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
    row = _find(session, conversion_id)
    if row is None:
        raise NotFound(f"conversion {conversion_id!r} does not exist")
    return _detail(session, row, runtime.settings.account_currency)


@router.post("", status_code=201, response_model=ConversionWritten, responses=_ERRORS)
def create_conversion(
    body: ConversionCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    api_key_id: ApiKeyDep,
    response: Response,
) -> ConversionWritten:
    """Record a conversion by hand (201), under the same rules as a postback; a repeat that the
    network's duplicate mode applies to the existing conversion answers 200 `updated`."""
    currency = runtime.settings.account_currency
    settings = runtime.settings
    outcome = manual.create(
        session.connection(),
        body,
        currency,
        api_key_id,
        settings.default_lookback,
        settings.fx_max_rate_age,
    )
    if outcome.reason is Reason.UPDATED:
        response.status_code = 200
    return _written(session, outcome, currency)


@router.patch("/{conversion_id}", response_model=ConversionWritten, responses=_ERRORS)
def change_status(
    conversion_id: ConversionIdPath,
    body: StatusChange,
    session: SessionDep,
    runtime: RuntimeDep,
    api_key_id: ApiKeyDep,
) -> ConversionWritten:
    """Change a conversion's status (and payout): one ledger row, and an outbound postback
    where the traffic source wants the new status. The same status and payout: `unchanged`."""
    if not looks_like_click_id(conversion_id):
        raise NotFound(f"conversion {conversion_id!r} does not exist")
    currency = runtime.settings.account_currency
    conn = session.connection()
    max_age = runtime.settings.fx_max_rate_age
    outcome = manual.change_status(conn, conversion_id.upper(), body, currency, api_key_id, max_age)
    return _written(session, outcome, currency)


def _find(session: Session, conversion_id: str) -> Conversion | None:
    if not looks_like_click_id(conversion_id):
        return None
    return queries.get_conversion(session, conversion_id.upper())


def _detail(session: Session, row: Conversion, currency: str) -> ConversionDetail:
    history = queries.status_history(session, row.id)
    return ConversionDetail.model_validate(row).model_copy(
        update={
            "currency": currency,
            "history": [StatusChangeOut.model_validate(h) for h in history],
        }
    )


_RESULTS = {Reason.ACCEPTED: "accepted", Reason.UPDATED: "updated", Reason.DUPLICATE: "unchanged"}


def _written(session: Session, outcome: Outcome, currency: str) -> ConversionWritten:
    assert outcome.conversion_id is not None
    # Written through Core in this transaction: read it back fresh, not from the identity map.
    row = session.get(Conversion, outcome.conversion_id, populate_existing=True)
    assert row is not None
    return ConversionWritten.model_construct(
        **dict(_detail(session, row, currency)),
        result=_RESULTS[outcome.reason],
        detail=outcome.detail,
        delivery_queued=outcome.queued,
    )
