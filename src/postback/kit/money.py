"""Money is stored as integer micro-units (1 unit = 1,000,000 micros), never as a float.

Micros keep CPM-sized payouts such as 0.000125 exact and add up exactly in SQL on SQLite and
PostgreSQL alike. Sums are 64-bit integers on both databases (SQLite has no wider integer), so
every amount that a stranger can send has a maximum, checked before anything is stored, that
keeps the sums of any realistic count of them inside 64 bits (docs/adr/0014-money-limits.md):

- AMOUNT_MAX_MICROS: one conversion's payout, commission or accumulated total, an offer's
  default payout, a campaign's CPA amount, in the account currency: 10 million units.
  2^63 micros hold 922,337 conversions at that maximum in one sum.
- CLICK_COST_MAX_MICROS: what one click costs (CPC, CPM / 1000, or a cost token): 1,000 units.
  2^63 micros hold 9.2 billion clicks at that maximum in one sum.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

MICROS = 1_000_000
AMOUNT_MAX_MICROS = 10_000_000 * MICROS
CLICK_COST_MAX_MICROS = 1_000 * MICROS
# What a text may hold before any currency conversion, in the sender's own currency.
_MAX_UNITS = Decimal(10) ** 12
_QUANT = Decimal("0.000001")
# The longest amount text taken, and the most decimal places that count: beyond them an amount
# is refused, not rounded (the original text is kept with the conversion, in 40 characters).
TEXT_MAX = 40
PLACES_MAX = 12
# ASCII digits only: Python's Decimal also reads Arabic-Indic and full-width digits, NaN and
# Infinity, none of which a payout is. The exponent is bounded so no text makes a huge number.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?", re.ASCII)


class InvalidAmount(ValueError):
    pass


def parse_amount(raw: str | int | Decimal) -> Decimal:
    """Parse a decimal amount as a user or a network writes it ("1.5", "1,50", "  2 ",
    "2.5e3"): exactly, or refused with InvalidAmount. -0 is 0."""
    text = str(raw).strip().replace(",", ".")
    if len(text) > TEXT_MAX or not _NUMBER.fullmatch(text):
        raise InvalidAmount(f"{_shown(raw)} is not a decimal number")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # the pattern should leave none; kept for safety
        raise InvalidAmount(f"{_shown(raw)} is not a number") from exc
    if not value:
        return Decimal(0)
    if abs(value) >= _MAX_UNITS:
        raise InvalidAmount(f"{_shown(raw)} is out of range")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: the pattern admits no NaN or Infinity
    if exponent < -PLACES_MAX and decimal_places(value) > PLACES_MAX:
        raise InvalidAmount(f"{_shown(raw)} has more than {PLACES_MAX} decimal places")
    return value


def decimal_places(value: Decimal) -> int:
    """Decimal places that matter: 1.50 has 1, 2E+3 has 0 (computed without rounding)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + trailing))


def _shown(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= 50 else f"{text[:40]}... ({len(text)} characters)"


def to_micros(amount: Decimal) -> int:
    return int((amount * MICROS).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_micros(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS).quantize(_QUANT)


def format_micros(micros: int) -> str:
    """Shortest exact text for an amount: 1500000 -> "1.5", 0 -> "0"."""
    text = format(from_micros(micros).normalize(), "f")
    return text
