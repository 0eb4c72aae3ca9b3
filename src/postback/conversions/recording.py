"""Record a conversion under the duplicate rules, in one go: the postback pipeline's last step
and the manual create of the conversions API (conversions/manual.py) share this code path.

Insert-or-detect-duplicate is a single INSERT ... ON CONFLICT DO NOTHING; only a conflict
leads to reading (and on PostgreSQL locking) the existing row to apply the repeat rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection

from postback.conversions import repository
from postback.conversions.fraud import conversion_flags
from postback.conversions.fx import DEFAULT_MAX_AGE, Rate, StaleRate, UnknownCurrency, rates
from postback.conversions.ledger import (
    SUPERSEDED,
    Change,
    first_change,
    postback_may_change,
    recognised_revenue,
    repeat_change,
)
from postback.conversions.parsing import Refused
from postback.conversions.reasons import Reason
from postback.conversions.records import ClickRecord, NetworkConfig, Outcome
from postback.kit import macros
from postback.kit.ids import new_id
from postback.kit.money import AMOUNT_MAX_MICROS, format_micros, to_micros


@dataclass(slots=True)  # read-only by convention; frozen cost 0.5 us more, once per postback
class Origin:
    """Who makes a change, kept on its ledger row: a postback or the conversion pixel (with
    its log row's id), or an admin through the conversions API (with the API key's id)."""

    kind: str = "postback"  # or "manual", or "pixel"
    postback_id: str | None = None
    api_key_id: int | None = None


@dataclass(slots=True)
class Recording:
    """One conversion to record, as the pipeline's steps (or the manual create) checked it.

    `values` holds payout, payout_explicit, amount (the sale value, or None), currency,
    commission, event, status, status_explicit and txid, as `service.conversion_values`
    makes them."""

    conn: Connection
    click: ClickRecord
    network: NetworkConfig | None
    values: dict[str, Any]
    params: dict[str, Any]
    account_currency: str
    at: datetime
    origin: Origin
    is_test: bool
    max_rate_age: timedelta = DEFAULT_MAX_AGE
    fires: bool = True  # a new conversion queues the outbound postback (a pixel's may not)
    # The converting browser's IP, for a conversion a browser reports itself (conversions/
    # fraud.py); a server postback's visitor IP is read from its parameters instead.
    user_ip: str | None = None


@dataclass(slots=True)
class Draft:
    """A conversion row made under the duplicate rules, not inserted yet."""

    rec: Recording
    row: dict[str, Any]
    mode: str
    first: Change


def record(rec: Recording) -> Outcome:
    draft = make_draft(rec)
    return settle(draft, repository.insert_conversion(rec.conn, draft.row))


def make_draft(rec: Recording) -> Draft:
    click, v = rec.click, rec.values
    mode = rec.network.mode_for(v["event"]) if rec.network else "ignore"
    dedupe_key = (v["txid"] or "") if mode == "new_per_txid" else ""
    payout_micros, rate = _to_account(rec, v["payout"], v["currency"])
    commission_micros, _ = _to_account(rec, v["commission"], v["currency"])
    check_limit("the payout", payout_micros)
    check_limit("the commission", commission_micros)
    amount = v.get("amount")
    amount_micros = None
    if amount is not None:  # the same currency and rate as the payout: one postback, one currency
        amount_micros = _to_account(rec, amount, v["currency"])[0]
        check_limit("the sale value", amount_micros)
    params = rec.params or {}
    if v.get("sent_currency"):  # named without a payout: the offer's payout kept its own
        params = {"currency": v["sent_currency"], **params}
    first = first_change(
        v["status"], payout_micros, commission_micros, click.cost_terms, amount_micros
    )
    now = rec.at
    row = {
        "id": new_id(),
        "click_id": click.id,
        "dedupe_key": dedupe_key,
        "created_at": now,
        "updated_at": now,
        "click_at": click.created_at,
        "campaign_id": click.campaign_id,
        "offer_id": click.offer_id,
        "network_id": rec.network.id if rec.network else None,
        "traffic_source_id": click.traffic_source_id,
        "event": v["event"],
        "event_key": rec.network.event_key(v["event"]) if rec.network else v["event"],
        "txid": v["txid"],
        "status": v["status"],
        "payout_micros": payout_micros,
        "revenue_micros": first.revenue_micros,
        "commission_micros": commission_micros,
        "cost_micros": first.cost_micros,
        "amount_micros": amount_micros,
        "original_amount": decimal_text(v["payout"]),
        "original_sale_amount": None if amount is None else decimal_text(amount),
        "original_currency": v["currency"],
        "fx_rate": decimal_text(rate.value),
        "fx_date": rate.on.isoformat() if rate.on else None,
        "params": params,
        "is_test": rec.is_test,
        "source": rec.origin.kind,
        "flags": conversion_flags(
            rec.conn, click, now, payout_micros, params, rec.account_currency, rec.user_ip
        ),
    }
    return Draft(rec, row, mode, first)


def decimal_text(value: Decimal) -> str:
    """An amount's shortest exact text ("1.50" -> "1.5"), cached: payouts and rates repeat.
    Zero is not cached: 0 and -0 are equal keys but keep their own texts."""
    return _nonzero_text(value) if value else format(value.normalize(), "f")


@lru_cache(maxsize=4096)
def _nonzero_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def settle(draft: Draft, inserted: bool) -> Outcome:
    """After the insert: a new conversion gets its ledger row and outbound postback; one
    whose (click, event, dedupe key) existed goes through the repeat rules instead."""
    rec, row = draft.rec, draft.row
    if inserted:
        write_ledger(rec.conn, rec.at, rec.origin, row["id"], None, draft.first, row["source"])
        queued = rec.fires and queue_delivery(
            rec.conn, rec.at, rec.click, row, rec.account_currency
        )
        return Outcome(Reason.ACCEPTED, conversion_id=row["id"], queued=queued)
    return _repeat(draft)


def _repeat(draft: Draft) -> Outcome:
    rec, row, mode = draft.rec, draft.row, draft.mode
    v, click = rec.values, rec.click
    existing = repository.lock_conversion(
        rec.conn, row["click_id"], row["event_key"], row["dedupe_key"]
    )
    if rec.origin.kind == PIXEL:  # a pixel only ever makes a new provisional conversion
        return Outcome(Reason.DUPLICATE, "already recorded", conversion_id=existing.id)
    if existing.source == PIXEL:
        return _supersede(draft, existing)
    change = repeat_change(
        mode,
        status=existing.status,
        payout_micros=existing.payout_micros,
        commission_micros=existing.commission_micros,
        revenue_micros=existing.revenue_micros,
        cost_micros=existing.cost_micros,
        terms=click.cost_terms,
        new_status=v["status"] if v["status_explicit"] else None,
        new_payout_micros=row["payout_micros"] if v["payout_explicit"] else None,
        new_commission_micros=row["commission_micros"],
        amount_micros=existing.amount_micros,
        new_amount_micros=row["amount_micros"],
    )
    if change is None:
        return Outcome(Reason.DUPLICATE, "already recorded", conversion_id=existing.id)
    if not postback_may_change(existing.status, change):
        raise Refused(
            Reason.STATUS_LOCKED,
            f"conversion {existing.id} is {existing.status}: a postback may not change it to "
            f"{change.status}{'' if change.status != existing.status else ' with a new payout'}",
        )
    check_limit("the accumulated payout", change.payout_micros)
    check_limit("the accumulated commission", change.commission_micros)
    check_limit("the accumulated sale value", change.amount_micros or 0)
    queued = apply_change(
        rec.conn, rec.at, rec.origin, existing, change, click, row["event"], rec.account_currency
    )
    return Outcome(
        Reason.UPDATED,
        f"{existing.status} -> {change.status}",
        conversion_id=existing.id,
        queued=queued,
    )


def apply_change(
    conn: Connection,
    at: datetime,
    origin: Origin,
    existing: Any,
    change: Change,
    click: ClickRecord,
    event: str,
    account_currency: str,
) -> bool:
    """Move a locked conversion (`existing`, a row of repository.lock_conversion) to `change`:
    update it, append its ledger row and, on a new status, queue the outbound postback.
    Shared by repeated postbacks and the API's status change. True when a delivery was queued."""
    repository.update_conversion(
        conn,
        existing.id,
        {
            "status": change.status,
            "payout_micros": change.payout_micros,
            "commission_micros": change.commission_micros,
            "revenue_micros": change.revenue_micros,
            "cost_micros": change.cost_micros,
            "amount_micros": change.amount_micros,
            "updated_at": at,
        },
    )
    write_ledger(conn, at, origin, existing.id, existing.status, change, existing.source)
    if change.status == existing.status:
        return False
    updated = {
        "id": existing.id,
        "event": event,
        "status": change.status,
        "payout_micros": change.payout_micros,
        "amount_micros": change.amount_micros,
        "txid": existing.txid,
        "is_test": existing.is_test,
        "flags": existing.flags,
    }
    return queue_delivery(conn, at, click, updated, account_currency)


def write_ledger(
    conn: Connection,
    at: datetime,
    origin: Origin,
    conversion_id: str,
    from_status: str | None,
    change: Change,
    source: str,
) -> None:
    repository.insert_status_change(
        conn,
        {
            "conversion_id": conversion_id,
            "at": at,
            "from_status": from_status,
            "to_status": change.status,
            "payout_delta_micros": change.payout_delta,
            "revenue_delta_micros": change.revenue_delta,
            "cost_delta_micros": change.cost_delta,
            "amount_delta_micros": change.amount_delta,
            "postback_id": origin.postback_id,
            "origin": origin.kind,
            "api_key_id": origin.api_key_id,
            "source": source,
        },
    )


PIXEL = "pixel"
# What a superseding postback leaves as the pixel made it: the conversion's identity, and its
# time (reports have bucketed it there; the ledger's rows stay in that bucket).
# The fraud flags are kept too: the rollups fold every ledger row of a conversion under its
# flags, so they never change once its first row is written (fraud/flags.py).
_KEPT = frozenset({"id", "click_id", "dedupe_key", "created_at", "click_at", "campaign_id",
                   "offer_id", "traffic_source_id", "event", "is_test", "flags"})  # fmt: skip


def _supersede(draft: Draft, existing: Any) -> Outcome:
    """A postback (or an admin's create) for a conversion the pixel recorded: authoritative, so
    its amounts, status and source replace the pixel's whatever the duplicate mode. The ledger
    withdraws the pixel's state (to "superseded", counted under "pixel") and records the new
    one (counted under the new source); the outbound postback fires as for a new conversion,
    unless the pixel's already went out with the same status."""
    rec, row, first = draft.rec, draft.row, draft.first
    sale = recognised_revenue(existing.status, existing.amount_micros or 0)
    withdrawn = Change(
        SUPERSEDED, 0, 0, 0, 0,
        -existing.payout_micros, -existing.revenue_micros, -existing.cost_micros, None, -sale,
    )  # fmt: skip
    write_ledger(rec.conn, rec.at, rec.origin, existing.id, existing.status, withdrawn, PIXEL)
    write_ledger(rec.conn, rec.at, rec.origin, existing.id, None, first, row["source"])
    values = {k: v for k, v in row.items() if k not in _KEPT}
    values["txid"] = row["txid"] or existing.txid
    values["updated_at"] = rec.at
    repository.update_conversion(rec.conn, existing.id, values)
    fired = repository.has_delivery(rec.conn, existing.id)
    queued = False
    if not fired or first.status != existing.status:
        updated = {**row, "id": existing.id, "txid": values["txid"], "flags": existing.flags}
        queued = queue_delivery(rec.conn, rec.at, rec.click, updated, rec.account_currency)
    return Outcome(
        Reason.ACCEPTED,
        f"supersedes the pixel's provisional conversion ({existing.status})",
        conversion_id=existing.id,
        queued=queued,
    )


def queue_delivery(
    conn: Connection, at: datetime, click: ClickRecord, row: dict[str, Any], currency: str
) -> bool:
    """Outbox: the outbound postback is queued in the conversion's own transaction. Test
    conversions are never sent, nor those with a fraud flag the source skips. True when a
    delivery was queued."""
    if row["is_test"] or not click.source_wants(row["event"], row["status"], row["flags"]):
        return False
    assert click.source_postback_url is not None
    values = macro_values(click, row, currency)
    repository.insert_delivery(
        conn,
        {
            "id": new_id(),
            "conversion_id": row["id"],
            "traffic_source_id": click.traffic_source_id,
            "url": macros.fill(click.source_postback_url, values),
            "method": "POST" if click.source_signs else "GET",
            "body": _webhook_body(values, at) if click.source_signs else None,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
            "event": row["event"],
            "status": row["status"],
        },
    )
    return True


def macro_values(click: ClickRecord, row: dict[str, Any], currency: str) -> dict[str, object]:
    """The outbound postback's macro table: the click's tokens, then our own values."""
    values: dict[str, object] = dict(click.tokens)
    values.update(
        clickid=click.id,
        external_id=click.external_id,
        campaign_id=click.campaign_id,
        offer_id=click.offer_id,
        conversion_id=row["id"],
        event=row["event"],
        status=click.source_status_names.get(row["status"], row["status"]),
        txid=row.get("txid"),
        payout=format_micros(row["payout_micros"]),
        # The sale value; when none was sent, the payout (it stood for the sale value then).
        amount=format_micros(
            row["payout_micros"] if row.get("amount_micros") is None else row["amount_micros"]
        ),
        currency=currency,
    )
    return values


def _webhook_body(values: dict[str, object], at: datetime) -> str:
    event = {
        "type": f"conversion.{values['status']}",
        "timestamp": at.isoformat(),
        "data": {k: v for k, v in values.items() if v is not None},
    }
    return orjson.dumps(event).decode()


def _to_account(rec: Recording, amount: Decimal, currency: str) -> tuple[int, Rate]:
    return to_account(amount, currency, rec.account_currency, rec.at, rec.max_rate_age)


def to_account(
    amount: Decimal,
    currency: str,
    account: str,
    at: datetime,
    max_rate_age: timedelta = DEFAULT_MAX_AGE,
) -> tuple[int, Rate]:
    """`amount` in `currency` as micros of the account currency, at the rate of `at`'s day."""
    try:
        rate = rates.rate(currency, account, at.date(), max_rate_age)
    except UnknownCurrency as exc:
        raise Refused(Reason.INVALID_CURRENCY, f"no exchange rate for {currency}") from exc
    except StaleRate as exc:
        raise Refused(Reason.NO_RATE, str(exc)) from exc
    return to_micros(amount * rate.value), rate


def check_limit(what: str, micros: int) -> None:
    """Refuse an amount in the account currency above the maximum (kit/money.py): the
    rollups' 64-bit sums stay exact only while every amount is bounded."""
    if micros > AMOUNT_MAX_MICROS:
        raise Refused(
            Reason.INVALID_PAYOUT,
            f"{what} {format_micros(micros)} is above the maximum "
            f"{format_micros(AMOUNT_MAX_MICROS)} in the account currency",
        )
