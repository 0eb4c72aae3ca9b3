"""Group sums and the metrics derived from them (section 7 of the product spec).

Money is exact: sums stay integer micros and are written as decimal strings. Ratios are rounded
half-even: CR and ROI as percentages to 2 places, EPC and CPA to the micro, in integer
arithmetic (the same texts as Decimal's quantize, which the tests check; a report of ten
thousand rows spent most of its Python time on Decimals).

Cost is what the clicks cost plus what the conversions cost (CPA and RevShare campaigns), the
latter on the same basis as the conversions: by conversion time, or by click time. So cost,
profit, ROI and CPA are per basis, and `count_by=both` gives `cost` and `click_time_cost`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from postback.kit.money import MICROS
from postback.reports.facts import CONV_COST, CONV_METRICS, REVENUE, SALE_AMOUNT

# (name, slot) of the status counts, written as they are.
_COUNTS = tuple((name, i) for i, name in enumerate(CONV_METRICS[1:REVENUE], start=1))
_NO_CONVERSIONS = (0,) * len(CONV_METRICS)
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
    "sale_amount",
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
            count = events.get(event, 0) + int(vec[0])
            if count:
                events[event] = count
            else:  # a pixel's conversion withdrawn (superseded) from this group
                del events[event]

    def empty(self) -> bool:
        """Nothing left: a group whose only conversions moved to another source."""
        return not any(self.clicks) and not any(any(v) for v in self.conversions.values())

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


def money(micros: int) -> str:
    """kit.money.format_micros in integer arithmetic (the same text, the tests check): a report
    of thousands of rows writes three amounts per row and basis."""
    whole, frac = divmod(abs(micros), MICROS)
    sign = "-" if micros < 0 else ""
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:06d}".rstrip("0")


def total(groups: list[Sums]) -> Sums:
    """The sum of `groups`, column by column (Sums.add one group at a time cost a tenth of a
    ten-thousand-row report's rendering)."""
    out = Sums()
    if not groups:
        return out
    out.clicks = [sum(column) for column in zip(*(g.clicks for g in groups), strict=True)]
    for basis in {b for g in groups for b in g.conversions}:
        vectors = [g.conversions[basis] for g in groups if basis in g.conversions]
        out.conversions[basis] = [sum(column) for column in zip(*vectors, strict=True)]
    for g in groups:
        for basis, counts in g.events.items():
            events = out.events.setdefault(basis, {})
            for event, n in counts.items():
                events[event] = events.get(event, 0) + n
    return out


_ZEROS = {2: "0.00", 6: "0.000000"}
_SCALE = {2: 100, 6: 1_000_000}


def ratio(num: int, den: int, places: int) -> str | None:
    """num / den rounded half-even to `places` decimals, as Decimal writes it (a negative
    ratio that rounds to zero keeps its sign: "-0.00"); None when den is 0."""
    if den == 0:
        return None
    if num == 0:  # most rows of a wide report: no conversions, no revenue
        return _ZEROS[places]
    scale = _SCALE[places]
    q, r = divmod(abs(num) * scale, abs(den))
    if 2 * r > abs(den) or (2 * r == abs(den) and q & 1):
        q += 1
    whole, frac = divmod(q, scale)
    sign = "-" if (num < 0) != (den < 0) else ""
    return f"{sign}{whole}.{frac:0{places}d}"


def metrics(sums: Sums, bases: tuple[int, ...]) -> dict[str, Any]:
    clicks, unique, click_cost = sums.clicks
    out: dict[str, Any] = {"clicks": clicks, "unique_clicks": unique}
    for i, basis in enumerate(bases):
        conv = _conversion_metrics(sums, basis, clicks, click_cost)
        out.update({"click_time_" + k: v for k, v in conv.items()} if i else conv)
    return out


def _conversion_metrics(sums: Sums, basis: int, clicks: int, click_cost: int) -> dict[str, Any]:
    vec = sums.conversions.get(basis, _NO_CONVERSIONS)
    conversions, revenue = vec[0], vec[REVENUE]
    cost = click_cost + vec[CONV_COST]
    profit = revenue - cost
    events = sums.events.get(basis)
    out = {
        "cost": money(cost),
        "conversions": conversions,
        "events": dict(sorted(events.items())) if events else {},
    }
    for name, i in _COUNTS:
        out[name] = vec[i]
    out["cr"] = ratio(conversions * 100, clicks, 2)
    out["revenue"] = money(revenue)
    out["sale_amount"] = money(vec[SALE_AMOUNT])
    out["profit"] = money(profit)
    out["roi"] = ratio(profit * 100, cost, 2)
    out["epc"] = ratio(revenue, clicks * MICROS, 6)
    out["cpa"] = ratio(cost, conversions * MICROS, 6)
    return out


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
