"""The pipeline's last step: record the conversion under the duplicate rules, in one go.

Insert-or-detect-duplicate is a single INSERT ... ON CONFLICT DO NOTHING; only a conflict
leads to reading (and on PostgreSQL locking) the existing row to apply the repeat rules.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from postback.conversions import repository
from postback.conversions.fx import UnknownCurrency, rates
from postback.conversions.ledger import Change, first_change, repeat_change
from postback.conversions.parsing import Refused
from postback.conversions.reasons import Reason
from postback.conversions.records import ClickRecord, Outcome
from postback.kit import macros
from postback.kit.ids import new_id
from postback.kit.money import format_micros, to_micros

if TYPE_CHECKING:
    from postback.conversions.service import Context


def record_conversion(ctx: Context) -> Outcome:
    click, v = ctx.click, ctx.values
    assert click is not None
    mode = ctx.network.mode_for(v["event"]) if ctx.network else "ignore"
    dedupe_key = (v["txid"] or "") if mode == "new_per_txid" else ""
    payout_micros, rate = _to_account(ctx, v["payout"], v["currency"])
    commission_micros, _ = _to_account(ctx, v["commission"], v["currency"])
    first = first_change(v["status"], payout_micros, commission_micros, click.cost_terms)
    now = ctx.request.received_at
    row = {
        "id": new_id(),
        "click_id": click.id,
        "dedupe_key": dedupe_key,
        "created_at": now,
        "updated_at": now,
        "click_at": click.created_at,
        "campaign_id": click.campaign_id,
        "offer_id": click.offer_id,
        "network_id": ctx.network.id if ctx.network else None,
        "traffic_source_id": click.traffic_source_id,
        "event": v["event"],
        "txid": v["txid"],
        "status": v["status"],
        "payout_micros": payout_micros,
        "revenue_micros": first.revenue_micros,
        "commission_micros": commission_micros,
        "cost_micros": first.cost_micros,
        "original_amount": format(v["payout"].normalize(), "f"),
        "original_currency": v["currency"],
        "fx_rate": format(rate.value, "f"),
        "fx_date": rate.on.isoformat() if rate.on else None,
        "params": ctx.fields.params,
        "is_test": click.is_test,
    }
    if repository.insert_conversion(ctx.conn, row):
        _ledger(ctx, row["id"], None, first)
        _queue_delivery(ctx, click, row, ctx.settings.account_currency)
        return Outcome(Reason.ACCEPTED, conversion_id=row["id"])
    return _repeat(ctx, row, mode)


def _repeat(ctx: Context, row: dict[str, Any], mode: str) -> Outcome:
    v, click = ctx.values, ctx.click
    assert click is not None
    existing = repository.lock_conversion(
        ctx.conn, row["click_id"], row["event"], row["dedupe_key"]
    )
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
    )
    if change is None:
        return Outcome(Reason.DUPLICATE, "already recorded", conversion_id=existing.id)
    repository.update_conversion(
        ctx.conn,
        existing.id,
        {
            "status": change.status,
            "payout_micros": change.payout_micros,
            "commission_micros": change.commission_micros,
            "revenue_micros": change.revenue_micros,
            "cost_micros": change.cost_micros,
            "updated_at": ctx.request.received_at,
        },
    )
    _ledger(ctx, existing.id, existing.status, change)
    if change.status != existing.status:
        updated = {
            **row,
            "id": existing.id,
            "status": change.status,
            "payout_micros": change.payout_micros,
            "txid": existing.txid,
        }
        _queue_delivery(ctx, click, updated, ctx.settings.account_currency)
    return Outcome(
        Reason.UPDATED, f"{existing.status} -> {change.status}", conversion_id=existing.id
    )


def _ledger(ctx: Context, conversion_id: str, from_status: str | None, change: Change) -> None:
    repository.insert_status_change(
        ctx.conn,
        {
            "conversion_id": conversion_id,
            "at": ctx.request.received_at,
            "from_status": from_status,
            "to_status": change.status,
            "payout_delta_micros": change.payout_delta,
            "revenue_delta_micros": change.revenue_delta,
            "cost_delta_micros": change.cost_delta,
            "postback_id": None,
        },
    )


def _queue_delivery(ctx: Context, click: ClickRecord, row: dict[str, Any], currency: str) -> None:
    """Outbox: the outbound postback is queued in the conversion's own transaction."""
    if click.is_test or not click.source_wants(row["event"], row["status"]):
        return
    assert click.source_postback_url is not None
    values = macro_values(click, row, currency)
    repository.insert_delivery(
        ctx.conn,
        {
            "id": new_id(),
            "conversion_id": row["id"],
            "traffic_source_id": click.traffic_source_id,
            "url": macros.fill(click.source_postback_url, values),
            "method": "POST" if click.source_signs else "GET",
            "body": _webhook_body(values, ctx.request.received_at) if click.source_signs else None,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": ctx.request.received_at,
            "created_at": ctx.request.received_at,
            "event": row["event"],
            "status": row["status"],
        },
    )


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


def _to_account(ctx: Context, amount: Decimal, currency: str) -> tuple[int, Any]:
    try:
        rate = rates.rate(currency, ctx.settings.account_currency, ctx.request.received_at.date())
    except UnknownCurrency as exc:
        raise Refused(Reason.INVALID_CURRENCY, f"no exchange rate for {currency}") from exc
    return to_micros(amount * rate.value), rate
