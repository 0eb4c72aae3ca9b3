"""`/api/v1/integrations`: check an offer URL, make a test conversion, watch its status."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy.orm import Session

from postback.api_keys.auth import REQUIRE_API_KEY
from postback.clicks import service as clicks
from postback.clicks.redirect import get_route
from postback.clicks.visitor import visitor_from
from postback.integrations import repository, service
from postback.integrations.schemas import (
    OfferUrlCheck,
    OfferUrlVerdict,
    TestConversionCreate,
    TestConversionStatus,
)
from postback.kit.deps import RuntimeDep
from postback.kit.errors import Conflict
from postback.kit.fields import field_error
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

    def key() -> str | None:
        with Session(runtime.db.reader) as session:
            campaign = repository.campaign(session, body.campaign_id)
            return campaign.key if campaign else None

    campaign_key = await asyncio.get_running_loop().run_in_executor(None, key)
    route = await get_route(runtime, campaign_key) if campaign_key else None
    if route is None:
        raise field_error("campaign_id", f"campaign {body.campaign_id} does not exist")
    offers = [o for o in route.offers if body.offer_id in (None, o.id)]
    if not offers:
        raise Conflict("the campaign has no live offer to test", error="no_offer")
    route = route.straight_to(offers[0])
    click = clicks.new_click(
        route, clicks.read_tokens(body.tokens.items()), visitor_from(None, None, None, None),
        is_test=True,
    )  # fmt: skip
    await runtime.writer.insert_row(click.row)
    return TestConversionStatus(
        clickid=click.row["id"],
        status="PENDING",
        reason=None,
        detail="open redirect_url and complete the conversion as a visitor would",
        redirect_url=click.location,
    )


@router.get("/test-conversions/{clickid}", response_model=TestConversionStatus)
def test_conversion_status(
    clickid: Annotated[str, Path(min_length=1, max_length=64)], session: ReadSessionDep
) -> TestConversionStatus:
    return service.status(session, clickid.upper())
