"""The overview's date range and time zone, read from (and written back to) the URL query.

`range=today|yesterday|last7|last30` picks a preset; `from` and `to` (dates, both inclusive)
pick any other days; `tz` is an IANA zone name. Days are whole local days in that zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from postback.reports.schemas import MAX_DAYS

PRESETS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "last7": "Last 7 days",
    "last30": "Last 30 days",
}
DEFAULT_PRESET = "last7"


@dataclass(frozen=True)
class DateRange:
    first: date
    last: date  # inclusive
    tz: str
    preset: str | None

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def unit(self) -> str:
        """Charts per hour for a single day, per day otherwise."""
        return "hour" if self.days == 1 else "day"

    def report_params(self) -> dict[str, list[str]]:
        return {"from": [self.first.isoformat()], "to": [self.last.isoformat()], "tz": [self.tz]}

    def query(self, **changes: str) -> str:
        """This range as a URL query, with `changes` applied (e.g. another preset)."""
        params = {"range": self.preset} if self.preset else {
            "from": self.first.isoformat(), "to": self.last.isoformat()
        }  # fmt: skip
        params["tz"] = self.tz
        if "range" in changes:
            params.pop("from", None)
            params.pop("to", None)
        params.update(changes)
        return urlencode(params)


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """Zones to offer in the picker: canonical Area/City names and UTC (no legacy aliases)."""
    areas = (
        *("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/"),
        *("Europe/", "Indian/", "Pacific/"),
    )
    names = {n for n in available_timezones() if n.startswith(areas)}
    return ("UTC", *sorted(names))


def parse_range(
    params: Mapping[str, str], default_tz: str, today: date | None = None
) -> tuple[DateRange, list[str]]:
    """The range the query asks for, and what was wrong with it (then the default range)."""
    errors: list[str] = []
    tz = params.get("tz") or default_tz
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(f"{tz!r} is not a time zone; pick one from the list, e.g. Europe/Berlin")
        tz, zone = "UTC", ZoneInfo("UTC")
    today = today or datetime.now(zone).date()
    raw_from, raw_to = params.get("from"), params.get("to")
    if raw_from or raw_to:
        custom = _custom(raw_from or raw_to or "", raw_to or raw_from or "", tz, errors)
        if custom is not None:
            return custom, errors
    preset = params.get("range") or DEFAULT_PRESET
    if preset not in PRESETS:
        errors.append(f"{preset!r} is not a range; use one of {', '.join(PRESETS)}")
        preset = DEFAULT_PRESET
    return _preset(preset, today, tz), errors


def _preset(name: str, today: date, tz: str) -> DateRange:
    if name == "today":
        return DateRange(today, today, tz, name)
    if name == "yesterday":
        day = today - timedelta(days=1)
        return DateRange(day, day, tz, name)
    days = 7 if name == "last7" else 30
    return DateRange(today - timedelta(days=days - 1), today, tz, name)


def _custom(raw_from: str, raw_to: str, tz: str, errors: list[str]) -> DateRange | None:
    try:
        first, last = date.fromisoformat(raw_from), date.fromisoformat(raw_to)
    except ValueError:
        errors.append("from and to must be dates such as 2024-03-31")
        return None
    if first > last:
        errors.append("the first day must not be after the last day")
        return None
    if (last - first).days + 1 > MAX_DAYS:
        errors.append(f"a range may span at most {MAX_DAYS} days")
        return None
    return DateRange(first, last, tz, None)
