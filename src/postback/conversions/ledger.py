"""Status ledger rules: what a status is worth, and what a repeated postback changes.

Revenue is recognised for `approved` conversions only. `pending` and `rejected` are worth 0,
and `refunded` / `chargeback` reverse whatever had been recognised, so the sum of the ledger's
revenue deltas always equals the conversion's current revenue.
"""

from __future__ import annotations

from dataclasses import dataclass

DUPLICATE_MODES = ("ignore", "new_per_txid", "update", "accumulate")


def recognised_revenue(status: str, payout_micros: int) -> int:
    return payout_micros if status == "approved" else 0


@dataclass(frozen=True, slots=True)
class Change:
    status: str
    payout_micros: int
    commission_micros: int
    revenue_micros: int
    payout_delta: int
    revenue_delta: int


def repeat_change(
    mode: str,
    *,
    status: str,
    payout_micros: int,
    commission_micros: int,
    revenue_micros: int,
    new_status: str | None,
    new_payout_micros: int | None,
    new_commission_micros: int,
) -> Change | None:
    """What a repeated postback does to an existing conversion; None when nothing changes.

    A repeat that carries a different status moves the conversion to it in every mode (that is
    how networks report approvals and refunds). Payouts: `update` replaces, `accumulate` adds,
    the other modes keep the first one.
    """
    target_status = new_status or status
    target_payout, target_commission = payout_micros, commission_micros
    if mode == "update" and new_payout_micros is not None:
        target_payout, target_commission = new_payout_micros, new_commission_micros
    elif mode == "accumulate" and new_payout_micros is not None:
        target_payout = payout_micros + new_payout_micros
        target_commission = commission_micros + new_commission_micros
    if target_status == status and target_payout == payout_micros:
        return None
    target_revenue = recognised_revenue(target_status, target_payout)
    return Change(
        status=target_status,
        payout_micros=target_payout,
        commission_micros=target_commission,
        revenue_micros=target_revenue,
        payout_delta=target_payout - payout_micros,
        revenue_delta=target_revenue - revenue_micros,
    )
