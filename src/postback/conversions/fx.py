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
# How much older than the table's last day (or the conversion's day, when earlier) a rate may
# be: the longest ECB holiday gap is 4 days. Settings.fx_max_rate_age overrides it.
DEFAULT_MAX_AGE = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Rate:
    value: Decimal
    on: date | None  # None when no conversion was needed


_SAME = Rate(Decimal(1), None)
_CACHED_RATES = 4096


class UnknownCurrency(ValueError):
    pass


class StaleRate(ValueError):
    """The last rate of a currency is older than allowed: ECB stopped publishing it (RUB
    since 2022-03-01), or the table has a gap."""

    def __init__(self, currency: str, on: date, newest: date, max_age: timedelta) -> None:
        super().__init__(
            f"the newest {currency} rate is from {on}, more than {max_age.days} days before "
            f"{newest}"
        )
        self.currency = currency
        self.on = on


class RateTable:
    def __init__(self) -> None:
        self._converter: CurrencyConverter | None = None
        self._lock = threading.Lock()
        self._currencies: frozenset[str] | None = None
        self._rates: dict[tuple[str, str, date], Rate] = {}
        self._last_day: date | None = None

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

    def last_day(self) -> date:
        """The table's newest day, over all currencies."""
        if self._last_day is None:
            self._last_day = max(b.last_date for b in self._table().bounds.values())
        return self._last_day

    def rate(
        self, from_currency: str, to_currency: str, on: date, max_age: timedelta = DEFAULT_MAX_AGE
    ) -> Rate:
        """How many `to_currency` one `from_currency` buys on `on` (or the last day before).
        StaleRate when that day is more than `max_age` before `on` or the table's last day,
        whichever is earlier: a rate is never used silently long after it stopped."""
        if from_currency == to_currency:
            return _SAME
        key = (from_currency, to_currency, on)
        found = self._rates.get(key)
        if found is None:  # the table's lookup is slow Python; a day's rate never changes
            found = self._lookup(from_currency, to_currency, on)
            if len(self._rates) >= _CACHED_RATES:
                self._rates.clear()
            self._rates[key] = found
        assert found.on is not None
        newest = min(on, self.last_day())
        if newest - found.on > max_age:
            bounds = self._table().bounds
            older = min((from_currency, to_currency), key=lambda c: bounds[c].last_date)
            raise StaleRate(older, found.on, newest, max_age)
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
