"""Manual conversions and status changes: the writes of `/api/v1/conversions`.

A manual conversion is held to the rules of an inbound postback, through the pipeline's own
functions: the click must exist and be inside the network's lookback window, the defaults and
currency conversion are the same, and `recording.record` applies the network's duplicate mode,
writes the ledger row and queues the outbound postback. Two things differ: an API key vouches
for it instead of the network's token, and an admin may record a conversion outside the window
on purpose (`ignore_window`), e.g. one an advertiser reports at the end of the month.

A status change locks the conversion, as a repeated postback does, so a change racing another
change or a postback applies to the latest state and its ledger deltas stay exact.
Every ledger row written here has the origin `manual` and the caller's API key id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection

from postback.conversions import repository, service
from postback.conversions.fx import DEFAULT_MAX_AGE
from postback.conversions.ledger import repeat_change
from postback.conversions.parsing import Fields, Refused
from postback.conversions.reasons import Reason
from postback.conversions.recording import (
    Origin,
    Recording,
    apply_change,
    check_limit,
    record,
    to_account,
)
from postback.conversions.records import Outcome
from postback.conversions.schemas import ConversionCreate, StatusChange
from postback.kit.errors import BadRequest, Conflict, NotFound, PostbackError
from postback.kit.fields import field_error
from postback.kit.ids import looks_like_click_id


def create(
    conn: Connection,
    body: ConversionCreate,
    account_currency: str,
    api_key_id: int,
    default_lookback: timedelta,
    max_rate_age: timedelta = DEFAULT_MAX_AGE,
) -> Outcome:
    """Record a manual conversion; a repeat that changes nothing is a 409 `duplicate`."""
    try:
        recording = _checked(conn, body, account_currency, default_lookback)
        recording.origin = Origin("manual", api_key_id=api_key_id)
        recording.max_rate_age = max_rate_age
        outcome = record(recording)
    except Refused as refused:
        raise _api_error(refused) from None
    if outcome.reason is Reason.DUPLICATE:
        network, event = recording.network, recording.values["event"]
        mode = network.mode_for(event) if network else "ignore"
        raise Conflict(
            f"conversion {outcome.conversion_id} already records this click and event "
            f"(duplicate mode {mode!r}) with this status and payout",
            error=Reason.DUPLICATE.value,
        )
    return outcome


def _checked(
    conn: Connection, body: ConversionCreate, account_currency: str, default_lookback: timedelta
) -> Recording:
    """The pipeline's checks after authentication: click, network, values, lookback window."""
    clickid = body.clickid.upper()
    click = repository.load_click(conn, clickid) if looks_like_click_id(clickid) else None
    if click is None:
        raise Refused(Reason.UNKNOWN_CLICK, f"no click has the ID {clickid!r}")
    network = None
    if click.network_id is not None:
        network = repository.load_network_by_id(conn, click.network_id)
    # Taken after the first statement: on SQLite that one waited for the write lock.
    at = datetime.now(UTC)
    network_currency = network.currency if network else None
    # The API takes our own status names only, so no network status map applies.
    values = service.conversion_values(
        _fields(body), click, network_currency, {}, None, account_currency
    )
    if not body.ignore_window:
        service.check_lookback(click, network, at, default_lookback)
    return Recording(
        conn=conn,
        click=click,
        network=network,
        values=values,
        params=dict(body.params),
        account_currency=account_currency,
        at=at,
        origin=Origin("manual"),
        is_test=click.is_test or body.test,
    )


def change_status(
    conn: Connection,
    conversion_id: str,
    body: StatusChange,
    account_currency: str,
    api_key_id: int,
    max_rate_age: timedelta = DEFAULT_MAX_AGE,
) -> Outcome:
    """Move a conversion to a new status (and payout), whatever its status: an admin may make
    every move, a postback only some (ledger.POSTBACK_MOVES). Outcome DUPLICATE: nothing
    changed."""
    existing = repository.lock_conversion_by_id(conn, conversion_id)
    if existing is None:
        raise NotFound(f"conversion {conversion_id!r} does not exist")
    click = repository.load_click(conn, existing.click_id)
    if click is None:
        raise Conflict(f"the click {existing.click_id} of this conversion no longer exists")
    at = datetime.now(UTC)
    try:
        currency = body.currency or account_currency
        new_payout = _in_account(
            body.payout, "payout", currency, account_currency, at, max_rate_age
        )
        new_amount = _in_account(
            body.amount, "sale value", currency, account_currency, at, max_rate_age
        )
    except Refused as refused:
        raise _api_error(refused) from None
    if new_payout is None and new_amount is not None:
        new_payout = existing.payout_micros  # a new sale value alone leaves the payout
    # "update" replaces the payout (and sale value) given; the commission stays as it is.
    change = repeat_change(
        "update",
        status=existing.status,
        payout_micros=existing.payout_micros,
        commission_micros=existing.commission_micros,
        revenue_micros=existing.revenue_micros,
        cost_micros=existing.cost_micros,
        terms=click.cost_terms,
        new_status=body.status,
        new_payout_micros=new_payout,
        new_commission_micros=existing.commission_micros,
        amount_micros=existing.amount_micros,
        new_amount_micros=new_amount,
    )
    if change is None:
        detail = "the status, payout and sale value are already these"
        return Outcome(Reason.DUPLICATE, detail, conversion_id=existing.id)
    origin = Origin("manual", api_key_id=api_key_id)
    queued = apply_change(
        conn, at, origin, existing, change, click, existing.event, account_currency
    )
    detail = f"{existing.status} -> {change.status}"
    return Outcome(Reason.UPDATED, detail, conversion_id=existing.id, queued=queued)


def _in_account(
    value: Decimal | None,
    what: str,
    currency: str,
    account_currency: str,
    at: datetime,
    max_rate_age: timedelta,
) -> int | None:
    if value is None:
        return None
    micros, _ = to_account(value, currency, account_currency, at, max_rate_age)
    check_limit(f"the {what}", micros)
    return micros


def _fields(body: ConversionCreate) -> Fields:
    """The body as the canonical fields of a postback, for the pipeline's parsing."""
    sent = {
        "payout": body.payout,
        "amount": body.amount,
        "currency": body.currency,
        "event": body.event,
        "status": body.status,
        "txid": body.txid,
        "com": body.com,
        "comperc": body.comperc,
    }
    values = {name: str(value) for name, value in sent.items() if value is not None}
    return Fields(values=values, params=dict(body.params))


_FIELD_OF = {
    Reason.INVALID_CURRENCY: "currency",
    Reason.NO_RATE: "currency",
    Reason.INVALID_PAYOUT: "payout",
    Reason.INVALID_EVENT: "event",
    Reason.INVALID_STATUS: "status",
}


def _api_error(refused: Refused) -> PostbackError:
    """A pipeline refusal as an API error, keeping the postback's reason code where it is
    not a plain validation error."""
    reason = refused.reason
    if reason is Reason.UNKNOWN_CLICK:
        return NotFound(refused.detail, error=reason.value)
    if reason is Reason.OUTSIDE_WINDOW:
        detail = f'{refused.detail}; send "ignore_window": true to record it anyway'
        return Conflict(detail, error=reason.value)
    if reason is Reason.STATUS_LOCKED:
        detail = f"{refused.detail}; PATCH /api/v1/conversions/<id> changes its status"
        return Conflict(detail, error=reason.value)
    if reason in _FIELD_OF:
        return field_error(_FIELD_OF[reason], refused.detail)
    return BadRequest(refused.detail, error=reason.value)
