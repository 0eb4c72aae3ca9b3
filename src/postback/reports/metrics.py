"""Group sums and the metrics derived from them (section 7 of the product spec).

Money is exact: sums stay integer micros and are written as decimal strings. Ratios are rounded
half-even: CR and ROI as percentages to 2 places, EPC and CPA to the micro.

Cost is what the clicks cost plus what the conversions cost (CPA and RevShare campaigns), the
latter on the same basis as the conversions: by conversion time, or by click time. So cost,
profit, ROI and CPA are per basis, and `count_by=both` gives `cost` and `click_time_cost`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from postback.kit.money import MICROS
from postback.reports.facts import CONV_COST, CONV_METRICS, REVENUE

_PCT = Decimal("0.01")
_MICRO = Decimal("0.000001")
CONVERSION_FIELDS = (
    "cost",
    "conversions",
    "events",
    "approved",
    "pending",
    "rejected",
    "refunded",
    "chargeback",
    "cr",
    "revenue",
    "profit",
    "roi",
    "epc",
    "cpa",
)


@dataclass(slots=True)
class Sums:
    clicks: list[int] = field(default_factory=lambda: [0, 0, 0])
    conversions: dict[int, list[int]] = field(default_factory=dict)
    events: dict[int, dict[str, int]] = field(default_factory=dict)

    def add_clicks(self, vec: Any) -> None:
        clicks = self.clicks
        clicks[0] += int(vec[0] or 0)
        clicks[1] += int(vec[1] or 0)
        clicks[2] += int(vec[2] or 0)

    def add_conversions(self, basis: int, event: str, vec: Any) -> None:
        slot = self.conversions.get(basis)
        if slot is None:
            slot = self.conversions[basis] = [0] * len(CONV_METRICS)
        for i, value in enumerate(vec):
            if value:
                slot[i] += int(value)
        if vec[0]:
            events = self.events.setdefault(basis, {})
            events[event] = events.get(event, 0) + int(vec[0])

    def add(self, other: Sums) -> None:
        self.add_clicks(other.clicks)
        for basis, vec in other.conversions.items():
            slot = self.conversions.setdefault(basis, [0] * len(CONV_METRICS))
            for i, value in enumerate(vec):
                slot[i] += value
        for basis, counts in other.events.items():
            events = self.events.setdefault(basis, {})
            for event, n in counts.items():
                events[event] = events.get(event, 0) + n


_ZERO = {q: str(Decimal(0).quantize(q)) for q in (_PCT, _MICRO)}


def money(micros: int) -> str:
    """kit.money.format_micros in integer arithmetic (the same text, the tests check): a report
    of thousands of rows writes three amounts per row and basis."""
    whole, frac = divmod(abs(micros), MICROS)
    sign = "-" if micros < 0 else ""
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:06d}".rstrip("0")


def _ratio(num: Decimal, den: int, quant: Decimal) -> str | None:
    if den == 0:
        return None
    if not num:  # most rows of a wide report: no conversions, no revenue
        return _ZERO[quant]
    return str((num / den).quantize(quant, rounding=ROUND_HALF_EVEN))


def metrics(sums: Sums, bases: tuple[int, ...]) -> dict[str, Any]:
    clicks, unique, click_cost = sums.clicks
    out: dict[str, Any] = {"clicks": clicks, "unique_clicks": unique}
    for i, basis in enumerate(bases):
        prefix = "click_time_" if i else ""
        conv = _conversion_metrics(sums, basis, clicks, click_cost)
        out.update({prefix + k: v for k, v in conv.items()})
    return out


def _conversion_metrics(sums: Sums, basis: int, clicks: int, click_cost: int) -> dict[str, Any]:
    vec = sums.conversions.get(basis, [0] * len(CONV_METRICS))
    conversions, revenue = vec[0], vec[REVENUE]
    cost = click_cost + vec[CONV_COST]
    profit = revenue - cost
    return {
        "cost": money(cost),
        "conversions": conversions,
        "events": dict(sorted(sums.events.get(basis, {}).items())),
        **{name: vec[i] for i, name in enumerate(CONV_METRICS[1:REVENUE], start=1)},
        "cr": _ratio(Decimal(conversions) * 100, clicks, _PCT),
        "revenue": money(revenue),
        "profit": money(profit),
        "roi": _ratio(Decimal(profit) * 100, cost, _PCT),
        "epc": _ratio(Decimal(revenue) / MICROS, clicks, _MICRO),
        "cpa": _ratio(Decimal(cost) / MICROS, conversions, _MICRO),
    }


def sort_value(value: Any) -> tuple[int, Any]:
    """Metrics sort as numbers (money and ratios are strings), missing values last."""
    if value is None:
        return (1, 0)
    if isinstance(value, str):
        try:
            return (0, Decimal(value))
        except ArithmeticError:
            return (0, value)
    return (0, value)
