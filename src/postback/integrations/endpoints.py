"""`/api/v1/integrations`: check an offer URL, make a test conversion, watch its status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from postback.api_keys.auth import REQUIRE_API_KEY
from postback.integrations import service
from postback.integrations.schemas import (
    OfferUrlCheck,
    OfferUrlVerdict,
    TestConversionCreate,
    TestConversionStatus,
)
from postback.kit.deps import RuntimeDep
from postback.kit.session import ReadSessionDep

router = APIRouter(prefix="/integrations", tags=["integrations"], dependencies=REQUIRE_API_KEY)


@router.post("/offer-url-check", response_model=OfferUrlVerdict)
def check_offer_url(body: OfferUrlCheck, session: ReadSessionDep) -> OfferUrlVerdict:
    return service.check_offer_url(session, body)


@router.post("/test-conversions", status_code=201, response_model=TestConversionStatus)
async def make_test_conversion(
    body: TestConversionCreate, runtime: RuntimeDep
) -> TestConversionStatus:
    """A click flagged as a test: open `redirect_url`, convert, then GET its status."""
    return await service.make_test_conversion(runtime, body)


@router.get("/test-conversions/{clickid}", response_model=TestConversionStatus)
def test_conversion_status(
    clickid: Annotated[str, Path(min_length=1, max_length=64)], session: ReadSessionDep
) -> TestConversionStatus:
    return service.status(session, clickid.upper())
