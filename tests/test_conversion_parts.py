"""Small conversion rules without a server: amount texts and cached exchange rates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from postback.conversions.fx import RateTable
from postback.conversions.recording import decimal_text


def test_amount_texts_are_shortest_and_exact_whatever_came_first() -> None:
    assert decimal_text(Decimal("1.50")) == "1.5"
    assert decimal_text(Decimal("1.5")) == "1.5"
    assert decimal_text(Decimal("1E+2")) == "100"
    assert decimal_text(Decimal("100.000")) == "100"
    assert decimal_text(Decimal("-0")) == "-0"
    assert decimal_text(Decimal("0.00")) == "0"


def test_cached_rates_equal_fresh_lookups() -> None:
    cached, fresh = RateTable(), RateTable()
    days = [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3), date(2024, 3, 1)]
    for day in days:  # a Saturday and a Sunday fall back to Friday's rate
        for pair in (("EUR", "USD"), ("USD", "JPY"), ("GBP", "GBP")):
            assert cached.rate(*pair, day) == fresh._lookup(*pair, day) or pair[0] == pair[1]
    assert cached.rate("EUR", "USD", date(2024, 3, 2)).on == date(2024, 3, 1)
    assert cached.rate("GBP", "GBP", date(2024, 3, 2)).value == 1
