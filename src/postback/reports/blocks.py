"""Which rollup rows answer a report's range: aligned blocks, and corrections by subtraction.

A block is one level's bucket (8-day span, UTC day, hour, quarter: `periods.LEVELS`) and lands
in one period of the report. Where a zone's days do not start at 00:00 UTC (Kathmandu's start
at 18:15 UTC, New York's at 04:00 or 05:00), no UTC day fits inside a local one, so a local day
took 23 hour and 4 quarter rows per key. Instead a UTC day (or an hour) with exactly one
boundary inside, of a period or of the range, is read whole and credited to the period of its
longer side; the rows of its shorter side are subtracted from that period and added to their
own (or to nothing, outside the range). Every metric is a plain sum, so this is exact. It is
chosen where it reads fewer rows, by the rollup's rows per block at each level, counted around
the range (`queries.rows_per_block`): a UTC day of a campaign rollup holds about as many rows as
one of its hours, but a day of a sparse rollup (conversions on little traffic, tokens) holds
nearly as many as its 24 hours together, and there reading whole days would cost more.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from postback.reports.periods import LEVELS

Ranges = tuple[tuple[int, int], ...]
# Whole blocks over a boundary: UTC days and hours (an 8-day span is worth several days of
# token rows, so "fewer blocks" would not mean fewer rows there).
STRADDLE_TOP = 2


@dataclass(frozen=True)
class Term:
    """Rollup rows at `level` whose q is in `ranges`, each counted `sign` times in the period
    of its own bucket, or with an `anchor` (size, pick) in that of bucket q // size * size +
    pick: the side its straddling block is credited to."""

    level: int
    ranges: Ranges
    anchor: tuple[int, int] | None = None
    sign: int = 1


@dataclass(frozen=True)
class Plan:
    start: int
    end: int
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class _Straddle:
    level: int
    start: int
    pick: int  # 0: credited to the head's period, size - 1: to the tail's
    fix: tuple[int, int]  # the side subtracted from it
    fix_inside: bool  # and added to its own periods, inside the range

    @property
    def end(self) -> int:
        return self.start + LEVELS[self.level]


def cuts(start: int, end: int, boundary: Callable[[int], bool]) -> list[int]:
    """The period boundaries inside [start, end) (`boundary(q)`: a new period or offset starts
    at q): the same for every rollup a report reads."""
    return [q for q in range(start + 1, end) if boundary(q)]


def plan(
    start: int,
    end: int,
    inner: list[int],
    top: int = 2,
    weigh: Callable[[], Sequence[float]] | None = None,
    empty_from: int | None = None,
) -> Plan:
    """Split [start, end) into the largest aligned blocks (8 UTC days up to level `top`, UTC
    day, hour, quarter) that never straddle a period boundary (`inner`, from `cuts`), except
    the straddling days and hours that are cheaper corrected. `weigh()` gives the rollup's rows
    per block at levels 0 to 2; called only if a block straddles; without it none is read
    whole. The rollups hold nothing from bucket `empty_from` on (past the watermark): a range
    that goes on beyond it ends, for the rollups, wherever makes the largest blocks."""
    known = end  # keys are known (spans, boundaries) before it
    if empty_from is not None and end > empty_from:
        inner = [q for q in inner if q < empty_from]
        known = min(end, empty_from)
        end = max(start, -(-empty_from // LEVELS[top]) * LEVELS[top])
    points = [start, *inner, end]
    straddles = _straddles(points, min(top, STRADDLE_TOP), weigh, known) if weigh else {}
    plain: list[list[tuple[int, int]]] = [[] for _ in range(top + 1)]
    for a, b in pairwise(points):
        lo = straddles[a].end if a in straddles else a
        hi = straddles[b].start if b in straddles else b
        _blocks(lo, hi, plain)
    for st in straddles.values():
        if st.fix_inside:
            _blocks(*st.fix, plain)
    terms = [Term(level, _merge(ranges)) for level, ranges in enumerate(plain) if ranges]
    return Plan(start, end, (*terms, *_anchored(straddles.values())))


def _straddles(
    points: list[int], top: int, weigh: Callable[[], Sequence[float]], known: int
) -> dict[int, _Straddle]:
    """The blocks worth reading whole, by the one point (boundary or range end) inside each."""
    chosen: dict[int, _Straddle] = {}
    weights: Sequence[float] = ()
    for level in range(top, 0, -1):
        size = LEVELS[level]
        for p in points:  # a block straddles a point p only if p is not its start
            s = p // size * size
            if s == p or p in chosen:
                continue
            i = bisect.bisect_right(points, s)
            inside = points[i : bisect.bisect_left(points, s + size)]
            if len(inside) != 1:
                continue
            weights = weights or weigh()
            found = _straddle(level, s, inside[0], (points[0], points[-1]), weights, known)
            if found is not None:
                chosen[inside[0]] = found
    return chosen


def _straddle(
    level: int, s: int, p: int, span: tuple[int, int], weights: Sequence[float], known: int
) -> _Straddle | None:
    """Block [s, s + size) split at p: read whole and corrected, if that reads fewer rows than
    its sides that are inside the range `span` (a side inside is read twice to correct it).
    Credited to its tail only if the tail's last bucket is before `known`: past the watermark
    a boundary may be left out (nothing is folded there) and the last bucket in another period."""
    e = s + LEVELS[level]
    head, tail = (s, p), (p, e)
    inside = [side for side, ok in ((head, p > span[0]), (tail, p < span[1])) if ok]
    plain = sum(_rows(side, level, weights) for side in inside)
    options = []  # credit the block to one side in the range, correct the other
    for keep, fix, pick in ((tail, head, e - s - 1), (head, tail, 0)):
        if keep in inside and (pick == 0 or e <= known):
            cost = weights[level] + _rows(fix, level, weights) * (2 if fix in inside else 1)
            options.append((cost, _Straddle(level, s, pick, fix, fix in inside)))
    if not options:
        return None
    cost, best = min(options, key=lambda option: option[0])
    return best if cost < plain else None


def _rows(side: tuple[int, int], below: int, weights: Sequence[float]) -> float:
    levels: list[list[tuple[int, int]]] = [[] for _ in range(below)]
    _blocks(side[0], side[1], levels)
    return sum(len(blocks) * weights[level] for level, blocks in enumerate(levels))


def _anchored(straddles: Iterable[_Straddle]) -> list[Term]:
    """The straddling blocks, by (level, pick), and their fixes, by (level, size, pick)."""
    whole: dict[tuple[int, int], list[tuple[int, int]]] = {}
    fixes: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    for st in straddles:
        size = LEVELS[st.level]
        whole.setdefault((st.level, st.pick), []).append((st.start, st.end))
        levels: list[list[tuple[int, int]]] = [[] for _ in range(st.level)]
        _blocks(*st.fix, levels)
        for level, ranges in enumerate(levels):
            if ranges:
                fixes.setdefault((level, size, st.pick), []).extend(ranges)
    terms = [Term(lv, _merge(r), (LEVELS[lv], pick)) for (lv, pick), r in sorted(whole.items())]
    for (level, size, pick), ranges in sorted(fixes.items()):
        terms.append(Term(level, _merge(ranges), (size, pick), sign=-1))
    return terms


def _blocks(a: int, b: int, levels: list[list[tuple[int, int]]]) -> None:
    order = range(len(levels) - 1, -1, -1)
    q = a
    while q < b:
        level = next(lv for lv in order if q % LEVELS[lv] == 0 and q + LEVELS[lv] <= b)
        levels[level].append((q, q + LEVELS[level]))
        q += LEVELS[level]


def _merge(ranges: list[tuple[int, int]]) -> Ranges:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and merged[-1][1] == a:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return tuple(merged)
