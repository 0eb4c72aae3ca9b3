"""The integration check: is the offer URL right, and did a test conversion come back?"""

from __future__ import annotations

from sqlalchemy.orm import Session

from postback.integrations import repository
from postback.integrations.schemas import (
    CORRECT,
    OfferUrlCheck,
    OfferUrlVerdict,
    Problem,
    TestConversionStatus,
)
from postback.kit import linter
from postback.kit.errors import NotFound
from postback.kit.ids import looks_like_click_id
from postback.offers.service import lint_url


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


def status(session: Session, clickid: str) -> TestConversionStatus:
    # Checked first: junk such as NUL characters must be a 404, not a database error.
    found = repository.click(session, clickid) if looks_like_click_id(clickid) else None
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
