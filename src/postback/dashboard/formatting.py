"""Numbers and money as the pages show them. Money arrives as exact decimal text (or integer
micros) and is formatted with Decimal, never through a float."""

from __future__ import annotations

from decimal import Decimal

from postback.kit.money import from_micros

_CENTS = Decimal("0.01")
# Shown where there is no value (a ratio over zero clicks): an en dash.
NONE = "\u2013"


def money(value: str | Decimal | None) -> str:
    """1234.5 -> "1,234.50"; sub-cent amounts keep their digits: 0.000125 -> "0.000125"."""
    if value is None or value == "":
        return NONE
    amount = Decimal(value)
    if amount == amount.quantize(_CENTS):
        return f"{amount:,.2f}"
    return f"{amount.normalize():,f}"


def money_micros(micros: int) -> str:
    return money(from_micros(micros))


def number(value: int | str | None) -> str:
    if value is None or value == "":
        return NONE
    return f"{int(value):,}"


def percent(value: str | None) -> str:
    return NONE if value is None else f"{value} %"
