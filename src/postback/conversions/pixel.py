"""The conversion pixel's pipeline: a provisional conversion from the browser (ADR 0018).

A pixel runs in the visitor's browser, so it carries no secret and anyone who sees their own
click ID can fire it. It may therefore only ever make a new, provisional conversion: source
`pixel`, the campaign's pixel status (`pending` by default), the offer's default payout,
whatever amounts or status it sends. A pixel for a conversion that exists, from a postback or
from an earlier pixel, changes nothing (`duplicate`). A later postback for the same click and
event supersedes it (recording.py `_supersede`); the unique key decides races either way.

The steps are the postback pipeline's (service.py) where they apply; the network is read only
for its lookback window and duplicate mode, never to authenticate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from postback.config import Settings
from postback.conversions import parsing, repository, service
from postback.conversions.parsing import Fields, Refused
from postback.conversions.reasons import Reason
from postback.conversions.recording import PIXEL, make_draft, settle
from postback.conversions.records import NetworkConfig, Outcome, PostbackRequest
from postback.conversions.service import Context, Step
from postback.kit.cache import TTLCache
from postback.kit.ids import canonical_click_id

# What a pixel may set: which conversion (click, event, txid). Any other canonical field it
# sends (payout, status, currency, commission) is kept in params, never applied.
_APPLIED = frozenset({"clickid", "event", "txid"})
_STATUSES = ("pending", "approved")


@dataclass(frozen=True, slots=True)
class PixelSettings:
    enabled: bool
    status: str
    fires_postbacks: bool


@dataclass(slots=True)
class PixelContext(Context):
    cookie_clickid: str | None = None
    pixel: PixelSettings | None = None


def read_fields(ctx: Context) -> None:
    fields = parsing.canonical_fields(ctx.request.params, {})
    parsing.reject_placeholders(fields)
    kept = Fields()
    for name, value in fields.values.items():
        if name in _APPLIED:
            kept.values[name] = value
        elif name != "token":  # a secret has no business in a browser: never kept
            kept.params.setdefault(name, value)
    kept.params.update(fields.params)
    ctx.fields = kept


def clickid_from_url_or_cookie(ctx: Context) -> None:
    """The click ID sent in the pixel's URL, else the one the click's cookie holds."""
    assert isinstance(ctx, PixelContext)
    if ctx.fields.get("clickid") is None and ctx.cookie_clickid:
        ctx.fields.values["clickid"] = ctx.cookie_clickid
        ctx.fields.params["clickid_from"] = "cookie"
    ctx.clickid = parsing.require_clickid(ctx.fields)


def campaign_allows_pixel(ctx: Context) -> None:
    assert isinstance(ctx, PixelContext) and ctx.click is not None
    found = repository.load_pixel_settings(ctx.conn, ctx.click.campaign_id)
    if found is None or not found.pixel_enabled:
        raise Refused(
            Reason.PIXEL_DISABLED,
            "the click's campaign does not accept the conversion pixel: turn it on in the "
            "campaign's settings (pixel_enabled)",
        )
    status = found.pixel_status if found.pixel_status in _STATUSES else "pending"
    ctx.pixel = PixelSettings(True, status, bool(found.pixel_fires_postbacks))


def network_of_click(ctx: Context) -> None:
    """The click's network, for its lookback window and duplicate mode only."""
    assert ctx.click is not None
    network_id = ctx.click.network_id
    if network_id is None:
        return
    ctx.network = ctx.networks.get_or_load(
        ("id", network_id), lambda _k: repository.load_network_by_id(ctx.conn, network_id)
    )


def pixel_values(ctx: Context) -> None:
    """The conversion a postback without amounts or status would make, in the campaign's pixel
    status: the offer's payout, in the offer's currency."""
    assert isinstance(ctx, PixelContext) and ctx.click is not None and ctx.pixel is not None
    values = service.conversion_values(
        ctx.fields, ctx.click, None, {}, None, ctx.settings.account_currency
    )
    values.update(status=ctx.pixel.status, status_explicit=False)
    ctx.values = values


STEPS: tuple[Step, ...] = (
    read_fields,
    clickid_from_url_or_cookie,
    service.find_click,
    campaign_allows_pixel,
    network_of_click,
    pixel_values,
    service.check_window,
)


def process(
    conn: Connection,
    request: PostbackRequest,
    cookie_clickid: str | None,
    networks: TTLCache[Any, NetworkConfig],
    settings: Settings,
) -> Outcome:
    """Run the pixel's steps, record its conversion and write its log row, in the caller's
    transaction."""
    ctx = PixelContext(conn, request, networks, settings, cookie_clickid=cookie_clickid)
    try:
        for step in STEPS:
            step(ctx)
        draft = make_draft(service.recording(ctx, PIXEL))
        outcome = settle(draft, repository.insert_conversion(conn, draft.row))
    except Refused as refused:
        outcome = Outcome(refused.reason, refused.detail)
    outcome.parsed = service._parsed(ctx)
    outcome.log_id = ctx.log_id
    service.write_log(conn, request, outcome, ctx)
    return outcome


def cookie_clickid(raw: str | None) -> str | None:
    """A click ID as the cookie holds it, canonical; None when there is none."""
    value = (raw or "").strip()
    return canonical_click_id(value) if value else None
