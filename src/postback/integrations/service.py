"""The integration check: is the offer URL right, and did a test conversion come back?"""

from __future__ import annotations

import asyncio
from datetime import UTC

from sqlalchemy.orm import Session

from postback.clicks import service as clicks
from postback.clicks.redirect import get_route
from postback.clicks.visitor import visitor_from
from postback.integrations import repository
from postback.integrations.schemas import (
    CORRECT,
    OfferUrlCheck,
    OfferUrlVerdict,
    Problem,
    TestConversionCreate,
    TestConversionStatus,
)
from postback.kit import linter
from postback.kit.errors import Conflict, NotFound
from postback.kit.fields import field_error
from postback.kit.ids import looks_like_click_id
from postback.offers.service import lint_url
from postback.runtime import Runtime


def check_offer_url(session: Session, body: OfferUrlCheck) -> OfferUrlVerdict:
    findings = lint_url(session, body.url, body.network_id)
    errors = [Problem(code=f.code, message=f.message) for f in findings if f.level == "error"]
    message = CORRECT if not errors else "; ".join(e.message for e in errors)
    return OfferUrlVerdict(
        valid=not errors,
        message=message[:1].upper() + message[1:],
        errors=errors,
        warnings=linter.warnings_of("url", findings),
    )


async def make_test_conversion(
    runtime: Runtime, body: TestConversionCreate
) -> TestConversionStatus:
    """A click flagged as a test, written like any click; its redirect URL is the offer's."""

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


def redirect_url(session: Session, clickid: str) -> str | None:
    """Where a test click was sent: its offer's URL with the click's macros filled (as the
    offer reads today)."""
    found = repository.click(session, clickid.upper()) if looks_like_click_id(clickid) else None
    offer = repository.offer(session, found.offer_id) if found and found.offer_id else None
    if found is None or offer is None or not found.is_test:
        return None
    row = {
        "id": found.id, "tokens": found.tokens, "external_id": found.external_id,
        "campaign_id": found.campaign_id, "country": found.country, "os": found.os,
        "device": found.device, "browser": found.browser,
    }  # fmt: skip
    created = found.created_at if found.created_at.tzinfo else found.created_at.replace(tzinfo=UTC)
    return clicks.fill_click_url(offer.url, row, offer.id, created)


def status(session: Session, clickid: str) -> TestConversionStatus:
    # Checked first: junk such as NUL characters must be a 404, not a database error.
    found = repository.click(session, clickid.upper()) if looks_like_click_id(clickid) else None
    if found is None or not found.is_test:
        raise NotFound(f"no test conversion has the click ID {clickid!r}")
    conversion = repository.conversion_of(session, found.id)
    if conversion is not None:
        return TestConversionStatus(
            clickid=found.id,
            status="VALID",
            reason=None,
            detail=f"conversion {conversion.id} recorded: the integration works",
            conversion_id=conversion.id,
        )
    refused = repository.last_refusal(
        session, found, repository.network_of(session, found.offer_id)
    )
    if refused is not None:
        return TestConversionStatus(
            clickid=found.id,
            status="INVALID",
            reason=refused.reason,
            detail=f"the postback was refused ({refused.reason}): see postback-log {refused.id}",
        )
    return TestConversionStatus(
        clickid=found.id,
        status="PENDING",
        reason=None,
        detail="no postback yet: complete the conversion on the offer, then check again",
    )
