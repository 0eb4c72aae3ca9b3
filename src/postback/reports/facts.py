"""Raw rows as report facts: what one click or one ledger row adds to the metrics.

The aggregator folds facts into rollups; a report folds the not-yet-folded tail (and, when no
rollup has the asked dimensions, every row) the same way, so both paths share these rules.

Unique click: the first click of a visitor (its IP, or the click itself when there is none) on a
campaign in a UTC day, by click time. It is a property of the click, so it adds up across any
grouping and time zone; a report in another zone counts a visitor once per UTC day, not per
local day (said in docs/adr/0002-reports-rollups.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from postback.conversions.ledger import SUPERSEDED
from postback.models import TOKEN_NAME_MAX, TOKEN_VALUE_MAX
from postback.reports.periods import PER_DAY, q_of

# Conversion metric vector, in this order everywhere (rollup columns, sums, deltas).
CONV_METRICS = (
    "conversions",
    "approved",
    "pending",
    "rejected",
    "refunded",
    "chargeback",
    "revenue_micros",
    "cost_micros",  # what conversions cost (CPA, RevShare); clicks carry their own cost
    "amount_micros",  # the sale value, recognised like revenue (conversions/ledger.py)
)
REVENUE = CONV_METRICS.index("revenue_micros")
CONV_COST = CONV_METRICS.index("cost_micros")
SALE_AMOUNT = CONV_METRICS.index("amount_micros")
CLICK_METRICS = ("clicks", "unique_clicks", "cost_micros")
_STATUS_SLOT = {s: i for i, s in enumerate(CONV_METRICS[1:REVENUE], start=1)}

Key = tuple[Any, ...]


@dataclass(slots=True)
class Fact:
    """One click (metrics: clicks, unique, cost) or one ledger row (CONV_METRICS deltas)."""

    q: int
    dims: dict[str, Any]
    tokens: dict[str, str]
    is_test: bool
    metrics: tuple[int, ...]
    event: str = ""
    basis: int = 0


def dims_of(row: Any, network_of: dict[int, int]) -> dict[str, Any]:
    offer_id = row.offer_id or 0
    return {
        "campaign_id": row.campaign_id,
        "traffic_source_id": row.traffic_source_id or 0,
        "offer_id": offer_id,
        "lander_id": row.lander_id or 0,
        "network_id": network_of.get(offer_id, 0),
        "country": row.country or "",
        "device": row.device or "",
        "os": row.os or "",
        "browser": row.browser or "",
        "source": "",
        # A click's own flags; a ledger row's are its conversion's (the click's and its own).
        "flags": row.flags or 0,
    }


def report_tokens(tokens: dict[str, Any] | None, external_id: str | None) -> dict[str, str]:
    """Tokens as reports see them. The one carrying the source's click ID is left out: it is
    different on every click, so it would make one rollup row per click."""
    if not tokens:
        return {}
    return {
        _bounded(str(k), TOKEN_NAME_MAX): _bounded(str(v), TOKEN_VALUE_MAX)
        for k, v in tokens.items()
        if not (external_id and str(v) == external_id)
    }


def _bounded(text: str, width: int) -> str:
    # A click stored by an older version (or through another path) may hold a token longer
    # than the report's column, or a NUL, which PostgreSQL refuses: such a token would fail
    # its slice of the fold on every retry. New clicks are bounded when they are made.
    if len(text) > width:
        text = text[:width]
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def visitor_key(row: Any) -> tuple[int, str, int]:
    return (row.campaign_id, row.ip or row.id, q_of(row.created_at) // PER_DAY)


def click_facts(
    rows: Iterable[Any], seen: set[tuple[int, str, int]], network_of: dict[int, int]
) -> Iterator[Fact]:
    """Facts of clicks sorted by (created_at, id); `seen` holds visitors already counted and
    gains the new ones."""
    for row in rows:
        key = visitor_key(row)
        unique = key not in seen
        seen.add(key)
        yield Fact(
            q=q_of(row.created_at),
            dims=dims_of(row, network_of),
            tokens=report_tokens(row.tokens, row.external_id),
            is_test=bool(row.is_test),
            metrics=(1, int(unique), row.cost_micros or 0),
        )


def ledger_vector(
    from_status: str | None,
    to_status: str,
    revenue_delta: int,
    cost_delta: int,
    amount_delta: int = 0,
) -> tuple[int, ...]:
    """What one ledger row changes: the first row creates the conversion; later ones move it
    from one status to another. Their sum is the conversion's current state."""
    vec = [0] * len(CONV_METRICS)
    if from_status is None:
        vec[0] = 1
    elif from_status in _STATUS_SLOT:
        vec[_STATUS_SLOT[from_status]] -= 1
    if to_status == SUPERSEDED:
        vec[0] = -1  # the pixel's provisional conversion withdrawn: the postback's row adds it
    if to_status in _STATUS_SLOT:
        vec[_STATUS_SLOT[to_status]] += 1
    vec[REVENUE] = revenue_delta
    vec[CONV_COST] = cost_delta
    vec[SALE_AMOUNT] = amount_delta or 0
    return tuple(vec)


def ledger_facts(
    rows: Iterable[Any], network_of: dict[int, int], bases: tuple[int, ...]
) -> Iterator[Fact]:
    """Facts of ledger rows joined to their conversion and click, once per basis: 0 buckets by
    the conversion's time, 1 by its click's time."""
    for row in rows:
        vec = ledger_vector(
            row.from_status,
            row.to_status,
            row.revenue_delta_micros,
            row.cost_delta_micros,
            row.amount_delta_micros,
        )
        dims = dims_of(row, network_of)
        dims["source"] = row.source
        tokens = report_tokens(row.tokens, row.external_id)
        for basis in bases:
            moment: datetime = row.conv_at if basis == 0 else row.click_at
            yield Fact(q_of(moment), dims, tokens, bool(row.is_test), vec, row.event, basis)
