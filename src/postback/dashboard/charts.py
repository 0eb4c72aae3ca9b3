"""Charts drawn on the server as inline SVG: bars for counts, lines for money.

No script and no chart library: the page is complete as sent, prints, and works offline. Each
chart has a <title> and <desc> for screen readers and a <title> on every bar or point (a
tooltip on hover); pages put the same numbers in a table beside it. Coordinates are computed
with Decimal, so money never passes through a float even on its way to a pixel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 10, 26
_TENTH = Decimal("0.1")

Value = int | Decimal
Formatter = Callable[[Value], str]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Value]
    css: str  # class of the bars or line: series-1, series-2, ...


def _nice(value: Decimal) -> Decimal:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (> 0)."""
    power = Decimal(10) ** (value.adjusted() - 1)
    for step in (1, 2, 5, 10, 20, 50):
        if step * power >= value:
            return step * power
    return 100 * power


def _scale(values: Sequence[Value]) -> tuple[Decimal, Decimal]:
    """Axis ends: zero and a round number, so the gridline halfway is a round number too."""
    lo = min([Decimal(0), *map(Decimal, values)])
    hi = max([Decimal(0), *map(Decimal, values)])
    if lo < 0:
        span = 2 * _nice(max(-lo, hi) / 2) if hi > 0 else _nice(-lo)
        return (-span, span) if hi > 0 else (-span, Decimal(0))
    if all(isinstance(v, int) for v in values):
        hi = max(hi, Decimal(2))  # counts: a whole number halfway up
    return Decimal(0), 2 * _nice(hi / 2) if hi > 0 else Decimal(2)


def _y(value: Value, lo: Decimal, hi: Decimal) -> Decimal:
    plot = HEIGHT - TOP - BOTTOM
    return (TOP + (hi - Decimal(value)) * plot / (hi - lo)).quantize(_TENTH)


def _x(i: int, n: int) -> Decimal:
    """The centre of slot i of n."""
    slot = Decimal(WIDTH - LEFT - RIGHT) / max(n, 1)
    return (LEFT + slot * i + slot / 2).quantize(_TENTH)


def _frame(chart_id: str, title: str, desc: str, body: list[str]) -> Markup:
    head = (
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t" aria-describedby="{chart_id}-d" '
        'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _axes(labels: Sequence[str], lo: Decimal, hi: Decimal, fmt: Formatter) -> list[str]:
    parts = []
    for value in (lo, (lo + hi) / 2, hi):
        y = _y(value, lo, hi)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4}" text-anchor="end">'
            f"{escape(fmt(_tidy(value)))}</text>"
        )
    zero = _y(0, lo, hi)
    parts.append(f'<line class="zero" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{zero}" y2="{zero}"/>')
    n = len(labels)
    for i in sorted({0, n // 2, n - 1}) if n else ():
        parts.append(
            f'<text class="axis" x="{_x(i, n)}" y="{HEIGHT - 8}" text-anchor="middle">'
            f"{escape(labels[i])}</text>"
        )
    return parts


def _tidy(value: Decimal) -> Value:
    """Axis values: whole numbers when they are whole, else two places."""
    return int(value) if value == value.to_integral_value() else value.quantize(Decimal("0.01"))


def _describe(title: str, labels: Sequence[str], series: Sequence[Series], fmt: Formatter) -> str:
    parts = []
    for s in series:
        if not s.values:
            continue
        total = sum(map(Decimal, s.values), Decimal(0))
        peak = max(range(len(s.values)), key=lambda i: Decimal(s.values[i]))
        parts.append(
            f"{s.name}: {fmt(_tidy(total))} in total, highest {fmt(s.values[peak])} "
            f"at {labels[peak]}"
        )
    return f"{title}. " + ("; ".join(parts) if parts else "No data.")


def bar_chart(
    chart_id: str, title: str, labels: Sequence[str], series: Series, fmt: Formatter
) -> Markup:
    lo, hi = _scale(series.values)
    n = len(labels)
    slot = Decimal(WIDTH - LEFT - RIGHT) / max(n, 1)
    width = (slot * Decimal("0.7")).quantize(_TENTH)
    body = _axes(labels, lo, hi, fmt)
    zero = _y(0, lo, hi)
    for i, value in enumerate(series.values):
        y = _y(value, lo, hi)
        top, height = min(y, zero), abs(zero - y)
        x = _x(i, n) - width / 2
        body.append(
            f'<rect class="{series.css}" x="{x}" y="{top}" width="{width}" height="{height}">'
            f"<title>{escape(labels[i])}: {escape(fmt(value))}</title></rect>"
        )
    return _frame(chart_id, title, _describe(title, labels, [series], fmt), body)


def line_chart(
    chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series], fmt: Formatter
) -> Markup:
    lo, hi = _scale([v for s in series for v in s.values])
    n = len(labels)
    body = _axes(labels, lo, hi, fmt)
    for s in series:
        points = [(_x(i, n), _y(v, lo, hi)) for i, v in enumerate(s.values)]
        coords = " ".join(f"{x},{y}" for x, y in points)
        body.append(f'<polyline class="line {s.css}" points="{coords}" fill="none"/>')
        for i, (x, y) in enumerate(points):
            body.append(
                f'<circle class="dot {s.css}" cx="{x}" cy="{y}" r="3">'
                f"<title>{escape(s.name)}, {escape(labels[i])}: "
                f"{escape(fmt(s.values[i]))}</title></circle>"
            )
    return _frame(chart_id, title, _describe(title, labels, series, fmt), body)
