"""Currency conversion from the offline ECB rate table shipped inside the `currencyconverter`
package: no network access at run time, exact Decimal rates, and the rate's own date kept.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from currency_converter import CurrencyConverter, RateNotFoundError

# ECB publishes on working days only; a weekend or holiday uses the last published rate.
_MAX_LOOKBACK_DAYS = 15


@dataclass(frozen=True, slots=True)
class Rate:
    value: Decimal
    on: date | None  # None when no conversion was needed


_SAME = Rate(Decimal(1), None)
_CACHED_RATES = 4096


class UnknownCurrency(ValueError):
    pass


class RateTable:
    def __init__(self) -> None:
        self._converter: CurrencyConverter | None = None
        self._lock = threading.Lock()
        self._currencies: frozenset[str] | None = None
        self._rates: dict[tuple[str, str, date], Rate] = {}

    def _table(self) -> CurrencyConverter:
        # Loading parses a zipped CSV (~0.5 s), so it happens once, on first use.
        with self._lock:
            if self._converter is None:
                self._converter = CurrencyConverter(
                    decimal=True, fallback_on_missing_rate=False, fallback_on_wrong_date=False
                )
            return self._converter

    def currencies(self) -> frozenset[str]:
        if self._currencies is None:
            self._currencies = frozenset(self._table().currencies)
        return self._currencies

    def rate(self, from_currency: str, to_currency: str, on: date) -> Rate:
        """How many `to_currency` one `from_currency` buys on `on` (or the last day before)."""
        if from_currency == to_currency:
            return _SAME
        key = (from_currency, to_currency, on)
        found = self._rates.get(key)
        if found is None:  # the table's lookup is slow Python; a day's rate never changes
            found = self._lookup(from_currency, to_currency, on)
            if len(self._rates) >= _CACHED_RATES:
                self._rates.clear()
            self._rates[key] = found
        return found

    def _lookup(self, from_currency: str, to_currency: str, on: date) -> Rate:
        table = self._table()
        for code in (from_currency, to_currency):
            if code not in table.currencies:
                raise UnknownCurrency(code)
        day = min(on, table.bounds[from_currency].last_date, table.bounds[to_currency].last_date)
        for _ in range(_MAX_LOOKBACK_DAYS):
            try:
                value = table.convert(Decimal(1), from_currency, to_currency, date=day)
            except RateNotFoundError:
                day -= timedelta(days=1)
                continue
            return Rate(Decimal(value).quantize(Decimal("0.0000000001")).normalize(), day)
        raise UnknownCurrency(f"no rate for {from_currency}/{to_currency} near {on}")


rates = RateTable()
