"""Money is stored as integer micro-units (1 unit = 1,000,000 micros), never as a float.

Micros keep CPM-sized payouts such as 0.000125 exact, add up exactly in SQL on SQLite and
PostgreSQL alike, and fit a 64-bit integer up to 9.2 trillion units.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

MICROS = 1_000_000
_MAX_UNITS = Decimal(10) ** 12
_QUANT = Decimal("0.000001")
AMOUNT_MAX_MICROS = 10**13


class InvalidAmount(ValueError):
    pass


def parse_amount(raw: str | int | Decimal) -> Decimal:
    """Parse a decimal amount as a user or a network writes it ("1.5", "1,50", "  2 ")."""
    text = str(raw).strip().replace(",", ".") if not isinstance(raw, Decimal) else raw
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise InvalidAmount(f"{raw!r} is not a number") from exc
    if not value.is_finite() or abs(value) >= _MAX_UNITS:
        raise InvalidAmount(f"{raw!r} is out of range")
    return value


def to_micros(amount: Decimal) -> int:
    return int((amount * MICROS).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_micros(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS).quantize(_QUANT)


def format_micros(micros: int) -> str:
    """Shortest exact text for an amount: 1500000 -> "1.5", 0 -> "0"."""
    text = format(from_micros(micros).normalize(), "f")
    return text
