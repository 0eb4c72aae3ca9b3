"""Time in reports: 15-minute UTC buckets, local periods in any IANA zone, and where a report's
periods begin (blocks.py splits its range into rollup blocks by them).

Every UTC offset in use is a whole number of quarter hours (+05:45 Kathmandu, -09:30 Marquesas,
+10:30 Lord Howe), so every local day, hour, week and month starts on a 15-minute UTC boundary.
A period key is plain integer arithmetic on the bucket number `q` plus the offset in quarters,
`off`, which is constant between two offset changes ("spans"). The same formulas run in SQL over
rollup rows and in Python over raw rows, so both always agree.

Keys: day = local days since 1970-01-01; hour = the UTC bucket where the local hour starts (two
different hours on a fall-back night stay apart); week = ISO weeks (Monday) since the epoch's
week; month = year * 12 + month - 1.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, literal

QUARTER = 900
PER_HOUR = 4
PER_DAY = 96
PER_SPAN = 8 * PER_DAY
# Level 0, 1, 2, 3: bucket size in quarters. Only the token rollups keep level 3 (8 UTC days
# from the epoch): a token report over weeks reads a few rows per value, not one per day.
LEVELS = (1, PER_HOUR, PER_DAY, PER_SPAN)
EPOCH = date(1970, 1, 1)
TIME_UNITS = ("day", "hour", "week", "month")


class BadZone(ValueError):
    pass


def q_of(moment: datetime) -> int:
    """The 15-minute bucket a moment falls in."""
    return int(moment.timestamp()) // QUARTER


def moment_of(q: int) -> datetime:
    return datetime.fromtimestamp(q * QUARTER, UTC)


@dataclass(frozen=True)
class Spans:
    """The zone's offset (in quarters) over [start, end): offsets[i] holds from starts[i]."""

    starts: tuple[int, ...]
    offsets: tuple[int, ...]

    def index(self, q: int) -> int:
        return max(0, bisect.bisect_right(self.starts, q) - 1)

    def offset_at(self, q: int) -> int:
        return self.offsets[self.index(q)]


def spans_for(zone: ZoneInfo, start: int, end: int) -> Spans:
    """Offsets of `zone` over the buckets [start, end), sampled hourly then refined."""
    starts, offsets = [start], [_offset(zone, start)]
    samples = [*range(start + PER_HOUR, end, PER_HOUR), end - 1]
    prev = start
    for sample in samples:
        if sample > prev and _offset(zone, sample) != offsets[-1]:
            for q in range(prev + 1, sample + 1):
                off = _offset(zone, q)
                if off != offsets[-1]:
                    starts.append(q)
                    offsets.append(off)
                    break
        prev = sample
    return Spans(tuple(starts), tuple(offsets))


def _offset(zone: ZoneInfo, q: int) -> int:
    delta = moment_of(q).astimezone(zone).utcoffset() or timedelta(0)
    seconds = int(delta.total_seconds())
    if seconds % QUARTER:
        raise BadZone(f"{zone.key} is {delta} from UTC here, not a whole quarter hour")
    return seconds // QUARTER


def _month_of_day(day: int) -> int:
    d = EPOCH + timedelta(days=day)
    return d.year * 12 + d.month - 1


def key_py(unit: str, q: int, spans: Spans) -> int:
    """A bucket's period key in Python; `key_sql` is the same arithmetic in SQL."""
    i = spans.index(q)
    off = spans.offsets[i]
    local = q + off
    if unit == "hour":
        # An hour cut short by an offset change (Lord Howe's 30-minute shift) starts there.
        return max((local // PER_HOUR) * PER_HOUR - off, spans.starts[i] if i else 0)
    day = local // PER_DAY
    if unit == "day":
        return day
    if unit == "week":
        return (day + 3) // 7
    return _month_of_day(day)


def key_sql(unit: str, q: Any, spans: Spans) -> ColumnElement[int]:
    """CASE over the offset spans; positive operands, so SQL's integer division is floor."""
    n = len(spans.starts)
    exprs = [_key_expr(unit, q, i, spans) for i in range(n)]
    if n == 1:
        return exprs[0]
    return case(*((q < spans.starts[i + 1], exprs[i]) for i in range(n - 1)), else_=exprs[-1])


def _bounds(spans: Spans) -> list[tuple[int, int]]:
    return list(zip(spans.starts[1:], spans.offsets[:-1], strict=True))


def _key_expr(unit: str, q: Any, i: int, spans: Spans) -> Any:
    off = spans.offsets[i]
    local = q + literal(off)
    if unit == "hour":
        start = (local // PER_HOUR) * PER_HOUR - literal(off)
        return (
            case((start < spans.starts[i], literal(spans.starts[i])), else_=start) if i else start
        )
    day = local // PER_DAY
    if unit == "day":
        return day
    if unit == "week":
        return (day + 3) // 7
    return _month_case(day, spans)


def _month_case(day: Any, spans: Spans) -> Any:
    first = (spans.starts[0] + spans.offsets[0]) // PER_DAY
    last = (spans.starts[-1] + spans.offsets[-1]) // PER_DAY + 400
    d = EPOCH + timedelta(days=first)
    month = d.year * 12 + d.month - 1
    branches = []
    while True:
        month += 1
        start_day = (date(month // 12, month % 12 + 1, 1) - EPOCH).days
        if start_day > last:
            break
        branches.append((day < start_day, literal(month - 1)))
    return case(*branches, else_=literal(month - 1))


def label(unit: str, key: int, zone: ZoneInfo) -> str:
    if unit == "hour":
        return moment_of(key).astimezone(zone).isoformat(timespec="minutes")
    if unit == "day":
        return (EPOCH + timedelta(days=key)).isoformat()
    if unit == "week":
        return (EPOCH + timedelta(days=key * 7 - 3)).isoformat()
    return f"{key // 12:04d}-{key % 12 + 1:02d}"


def boundary_test(units: list[str], spans: Spans) -> Callable[[int], bool]:
    """q starts a new period (of any requested unit) or a new offset span. Without a time unit
    nothing does: every bucket of the range lands in the same place."""
    span_starts = set(spans.starts[1:]) if units else set()

    def is_boundary(q: int) -> bool:
        if q in span_starts:
            return True
        # Inside a span every period (hour, day, week, month) starts on a local hour.
        if not units or (q + spans.offset_at(q)) % PER_HOUR:
            return False
        return any(key_py(u, q, spans) != key_py(u, q - 1, spans) for u in units)

    return is_boundary
