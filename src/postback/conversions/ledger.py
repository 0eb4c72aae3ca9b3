"""Status ledger rules: what a status is worth and costs, and what a repeated postback changes.

Revenue is recognised for `approved` conversions only. `pending` and `rejected` are worth 0,
and `refunded` / `chargeback` reverse whatever had been recognised, so the sum of the ledger's
revenue deltas always equals the conversion's current revenue. The sale value (`amount`, when
the sender names one beside the payout) is recognised under the same rule, so reports sum the
sale value of the same conversions they sum the revenue of.

Cost at conversion time follows the campaign's cost model. `cpa`: the CPA amount while the
status counts toward revenue (the same rule as above), else 0. `revshare`: the campaign's share
of the recognised revenue, rounded half-even to the micro. Every other model costs per click,
so a conversion costs 0. A change recomputes the cost from the new state under the campaign's
terms as they are then, and its ledger row carries the difference: the ledger's cost deltas
always sum to the conversion's current cost, and a refund or chargeback takes it back to 0.
"""

from __future__ import annotations

from dataclasses import dataclass

# The to_status of the ledger row that withdraws a pixel's provisional conversion when a
# postback supersedes it (conversions/recording.py); reports count it as one conversion less.
SUPERSEDED = "superseded"
DUPLICATE_MODES = ("ignore", "new_per_txid", "update", "accumulate")
# The statuses a postback may move a conversion to, by its current status (the full matrix is
# in docs/postbacks.md). Refunded and chargeback are final for postbacks, and pending never
# comes back: networks resend earlier postbacks, late or on retry, and a resent approval must
# not undo a chargeback. An admin's status change through the API may make any move.
POSTBACK_MOVES: dict[str, frozenset[str]] = {
    "pending": frozenset({"approved", "rejected", "refunded", "chargeback"}),
    "approved": frozenset({"rejected", "refunded", "chargeback"}),
    "rejected": frozenset({"approved", "refunded", "chargeback"}),
    "refunded": frozenset(),
    "chargeback": frozenset(),
}
FINAL_FOR_POSTBACKS = frozenset({"refunded", "chargeback"})


def postback_may_change(current: str, change: Change) -> bool:
    """Whether a postback may make `change` to a conversion in status `current`: a move the
    table allows, or, outside the final statuses, a new payout in the same status."""
    if change.status == current:
        return current not in FINAL_FOR_POSTBACKS
    return change.status in POSTBACK_MOVES[current]


# A revshare rate is in millionths of a percent (40% = 40_000_000): cost = revenue * rate / 1e8.
RATE_SCALE = 100 * 1_000_000


def counts_toward_revenue(status: str) -> bool:
    return status == "approved"


def recognised_revenue(status: str, payout_micros: int) -> int:
    return payout_micros if counts_toward_revenue(status) else 0


def revenue_share(revenue_micros: int, rate: int) -> int:
    """`rate` millionths of a percent of `revenue_micros`, rounded half-even to the micro, in
    integers only (a float would be off by a micro on amounts of a few thousand units)."""
    whole, rest = divmod(revenue_micros * rate, RATE_SCALE)  # floor: 0 <= rest < RATE_SCALE
    if 2 * rest > RATE_SCALE or (2 * rest == RATE_SCALE and whole % 2):
        whole += 1
    return whole


@dataclass(frozen=True, slots=True)
class CostTerms:
    """A campaign's cost model as it applies to conversions."""

    model: str = "none"
    micros: int = 0  # the CPA amount, or the revshare rate in millionths of a percent

    def cost(self, status: str, revenue_micros: int) -> int:
        """What a conversion in `status` with `revenue_micros` recognised costs."""
        if self.model == "cpa":
            return self.micros if counts_toward_revenue(status) else 0
        if self.model == "revshare":
            return revenue_share(revenue_micros, self.micros)
        return 0


@dataclass(slots=True)  # read-only by convention; frozen cost several us per postback
class Change:
    status: str
    payout_micros: int
    commission_micros: int
    revenue_micros: int
    cost_micros: int
    payout_delta: int
    revenue_delta: int
    cost_delta: int
    amount_micros: int | None = None  # the sale value, None when none was ever sent
    amount_delta: int = 0  # of the recognised sale value


def first_change(
    status: str,
    payout_micros: int,
    commission_micros: int,
    terms: CostTerms,
    amount_micros: int | None = None,
) -> Change:
    """A new conversion's state: the change from nothing that its first ledger row records."""
    revenue = recognised_revenue(status, payout_micros)
    cost = terms.cost(status, revenue)
    amount = recognised_revenue(status, amount_micros or 0)
    return Change(status, payout_micros, commission_micros, revenue, cost, payout_micros,
                  revenue, cost, amount_micros, amount)  # fmt: skip


def repeat_change(
    mode: str,
    *,
    status: str,
    payout_micros: int,
    commission_micros: int,
    revenue_micros: int,
    cost_micros: int,
    terms: CostTerms,
    new_status: str | None,
    new_payout_micros: int | None,
    new_commission_micros: int,
    amount_micros: int | None = None,
    new_amount_micros: int | None = None,
) -> Change | None:
    """What a repeated postback does to an existing conversion; None when nothing changes.

    A repeat that carries a different status moves the conversion to it in every mode (that is
    how networks report approvals and refunds). Payouts: `update` replaces, `accumulate` adds,
    the other modes keep the first one. A sale value sent with the repeat follows the payout's
    rule; one not sent stays. Revenue and cost are recomputed from the result.
    """
    target_status = new_status or status
    target_payout, target_commission = payout_micros, commission_micros
    target_amount = amount_micros
    if mode == "update" and new_payout_micros is not None:
        target_payout, target_commission = new_payout_micros, new_commission_micros
        if new_amount_micros is not None:
            target_amount = new_amount_micros
    elif mode == "accumulate" and new_payout_micros is not None:
        target_payout = payout_micros + new_payout_micros
        target_commission = commission_micros + new_commission_micros
        if new_amount_micros is not None:
            target_amount = (amount_micros or 0) + new_amount_micros
    if (target_status, target_payout, target_amount) == (status, payout_micros, amount_micros):
        return None
    target_revenue = recognised_revenue(target_status, target_payout)
    target_cost = terms.cost(target_status, target_revenue)
    return Change(
        status=target_status,
        payout_micros=target_payout,
        commission_micros=target_commission,
        revenue_micros=target_revenue,
        cost_micros=target_cost,
        payout_delta=target_payout - payout_micros,
        revenue_delta=target_revenue - revenue_micros,
        cost_delta=target_cost - cost_micros,
        amount_micros=target_amount,
        amount_delta=recognised_revenue(target_status, target_amount or 0)
        - recognised_revenue(status, amount_micros or 0),
    )
