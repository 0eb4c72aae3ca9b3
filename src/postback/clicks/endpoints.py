"""`/api/v1/clicks`: register a click without a redirect (apps, server-side flows), read one.

A registered click goes through the same route, rules and durable group-commit write as the
redirect, so it is stored before the answer and attributed exactly like a redirected click.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import Field

from postback.api_keys.auth import REQUIRE_API_KEY
from postback.clicks import queries, service
from postback.clicks.redirect import get_route
from postback.clicks.schemas import ClickCreate, ClickCreated
from postback.clicks.visitor import visitor_from
from postback.fraud.schemas import FlagsOut
from postback.kit.deps import RuntimeDep
from postback.kit.errors import Conflict, NotFound, PostbackError
from postback.kit.fields import MicrosText, Output, UtcDatetime, field_error, has_nul
from postback.kit.ids import looks_like_click_id
from postback.kit.session import ReadSessionDep

log = logging.getLogger("postback.clicks")

router = APIRouter(prefix="/clicks", tags=["clicks"], dependencies=REQUIRE_API_KEY)

ClickIdPath = Annotated[str, Path(min_length=1, max_length=64)]


class Unavailable(PostbackError):
    status_code = 503
    error = "unavailable"


class ClickOut(Output):
    clickid: str = Field(validation_alias="id")
    created_at: UtcDatetime
    campaign_id: int
    offer_id: int | None
    traffic_source_id: int
    external_id: str | None
    ip: str | None
    user_agent: str | None
    referrer: str | None
    language: str | None
    country: str | None
    device: str | None
    os: str | None
    browser: str | None
    tokens: dict[str, Any]
    cost: MicrosText = Field(validation_alias="cost_micros")
    test: bool = Field(validation_alias="is_test")
    flags: FlagsOut


@router.post("", status_code=201, response_model=ClickCreated)
async def create_click(body: ClickCreate, runtime: RuntimeDep) -> ClickCreated:
    if has_nul(body.model_dump()):
        raise field_error("body", "must not contain NUL characters")
    ip = _ip(body.ip)
    route = await get_route(runtime, body.campaign_key)
    if route is None:
        raise NotFound(f"campaign {body.campaign_key!r} does not exist")
    if not route.active:
        raise Conflict(f"campaign {body.campaign_key!r} is not active", error="campaign_inactive")
    if not route.routable:
        raise Conflict(f"campaign {body.campaign_key!r} has no live offer", error="no_offer")
    tokens = service.read_tokens(body.tokens.items())
    visitor = visitor_from(ip, body.user_agent, body.referrer, body.language)
    # A registered click has no browser to show a lander to: it goes straight to the offer.
    click = service.new_click(route, tokens, visitor, is_test=body.test, skip_lander=True)
    try:
        await runtime.writer.insert_row(click.row)
    except Exception:
        log.exception("click not stored for campaign %s", body.campaign_key)
        raise Unavailable("the click could not be stored, try again") from None
    return ClickCreated(
        clickid=click.row["id"],
        campaign_id=route.id,
        offer_id=click.offer.id if click.offer else None,
        offer_url=click.location,
        external_id=click.row["external_id"],
        country=click.row["country"],
        device=click.row["device"],
        flags=click.row["flags"],
    )


@router.get("/{clickid}", response_model=ClickOut)
def get_click(clickid: ClickIdPath, session: ReadSessionDep) -> ClickOut:
    click = queries.get_click(session, clickid.upper()) if looks_like_click_id(clickid) else None
    if click is None:
        raise NotFound(f"click {clickid!r} does not exist")
    return ClickOut.model_validate(click)


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise field_error("ip", f"{value!r} is not an IP address") from None
