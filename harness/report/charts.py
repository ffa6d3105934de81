"""Chart geometry for inline SVG: numbers and labels only, laid out by the template.

No chart library: a report must work offline and stay small (measured:
inline SVG is ~1.4 KB per chart; plotly would add 4.8 MB). Everything here is
plain data: coordinates are floats, CSS classes come from the fixed ``SERIES``
vocabulary, and labels are untrusted text that the template escapes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Chart", "hbar_chart", "line_chart", "column_chart", "SERIES", "nice_max", "fmt"]

# The only CSS classes a chart element may carry (colours in the template's CSS).
SERIES = ("p50", "p95", "p99", "max", "rps", "users", "fail", "ok", "bar", "msgs", "sess", "verif")


def nice_max(value: float) -> float:
    """The smallest 1/2/2.5/5 x 10^n at or above ``value`` (axis end)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def fmt(value: float, unit: str = "") -> str:
    """Compact number for labels: 0.42, 12.3, 1234, 12.3k."""
    if not math.isfinite(value):
        return "-"
    a = abs(value)
    text = (f"{value / 1000:.1f}k" if a >= 10000 else f"{value:.0f}" if a >= 100
            else f"{value:.1f}" if a >= 10 else f"{value:.2f}".rstrip("0").rstrip(".") if a else "0")
    return f"{text} {unit}".rstrip() if unit else text


def _cls(name: str) -> str:
    return name if name in SERIES else "bar"


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    cls: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"      # start | middle | end
    cls: str = ""              # "" | "lbl" | "axis" | "val"


@dataclass(frozen=True, slots=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    cls: str = "grid"


@dataclass(frozen=True, slots=True)
class Polyline:
    points: str                # "x,y x,y ..." made of numbers only
    cls: str


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    width: float
    height: float
    rects: tuple[Rect, ...] = ()
    texts: tuple[Text, ...] = ()
    lines: tuple[Line, ...] = ()
    polylines: tuple[Polyline, ...] = ()
    legend: tuple[tuple[str, str], ...] = ()     # (series class, label)
    dots: tuple[tuple[float, float, str], ...] = field(default=())


def hbar_chart(title: str, groups: Sequence[tuple[str, Sequence[tuple[str, float]]]],
               unit: str = "ms", width: float = 640) -> Chart:
    """Horizontal grouped bars: one group per label (e.g. a phase), one bar per series."""
    label_w, right = 150.0, 60.0
    bar_h, gap, group_gap, top = 11.0, 2.0, 12.0, 8.0
    plot_w = width - label_w - right
    vmax = nice_max(max((v for _, bars in groups for _, v in bars), default=0.0))
    rects, texts, lines = [], [], []
    y = top
    for label, bars in groups:
        group_h = len(bars) * (bar_h + gap) - gap
        texts.append(Text(label_w - 8, y + group_h / 2 + 4, label[:24], "end", "lbl"))
        for series, value in bars:
            w = max(0.0, plot_w * value / vmax)
            rects.append(Rect(label_w, y, w, bar_h, _cls(series), f"{label} {series}: {fmt(value, unit)}"))
            texts.append(Text(label_w + w + 4, y + bar_h - 2, f"{series} {fmt(value, unit)}", "start", "val"))
            y += bar_h + gap
        y += group_gap - gap
    axis_y = y
    for i in range(5):
        x = label_w + plot_w * i / 4
        lines.append(Line(x, top - 4, x, axis_y, "grid"))
        texts.append(Text(x, axis_y + 14, fmt(vmax * i / 4, unit if i == 4 else ""), "middle", "axis"))
    legend = tuple(dict.fromkeys((_cls(s), s) for _, bars in groups for s, _ in bars))
    return Chart(title, width, axis_y + 24, tuple(rects), tuple(texts), tuple(lines), (), legend)


def line_chart(title: str, series: Sequence[tuple[str, str, Sequence[tuple[float, float]]]],
               x_unit: str = "s", y_unit: str = "ms", width: float = 640, height: float = 200) -> Chart:
    """Lines over time: ``series`` is [(class, label, [(x, y), ...])]."""
    left, right, top, bottom = 52.0, 16.0, 10.0, 28.0
    pw, ph = width - left - right, height - top - bottom
    xs = [x for _, _, pts in series for x, _ in pts]
    ys = [y for _, _, pts in series for _, y in pts]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x1 <= x0:
        x1 = x0 + 1.0
    ymax = nice_max(max(ys, default=0.0))

    def px(x: float) -> float:
        return left + pw * (x - x0) / (x1 - x0)

    def py(y: float) -> float:
        return top + ph * (1 - y / ymax)

    lines, texts, polys, dots = [], [], [], []
    for i in range(5):
        y = top + ph * i / 4
        lines.append(Line(left, y, left + pw, y, "grid"))
        texts.append(Text(left - 6, y + 4, fmt(ymax * (1 - i / 4), y_unit if i == 0 else ""), "end", "axis"))
    for i in range(5):
        x = left + pw * i / 4
        texts.append(Text(x, height - 10, fmt(x0 + (x1 - x0) * i / 4, x_unit if i == 4 else ""), "middle", "axis"))
    for cls, _, pts in series:
        coords = [(px(x), py(y)) for x, y in pts]
        if len(coords) == 1:
            dots.append((coords[0][0], coords[0][1], _cls(cls)))
        elif coords:
            polys.append(Polyline(" ".join(f"{a:.1f},{b:.1f}" for a, b in coords), _cls(cls)))
    legend = tuple((_cls(cls), label) for cls, label, _ in series)
    return Chart(title, width, height, (), tuple(texts), tuple(lines), tuple(polys), legend, tuple(dots))


def column_chart(title: str, columns: Sequence[tuple[str, float]], unit: str = "",
                 width: float = 640, height: float = 180) -> Chart:
    """Vertical bars (a histogram): ``columns`` is [(label under the bar, value)]."""
    left, right, top, bottom = 52.0, 10.0, 16.0, 30.0
    pw, ph = width - left - right, height - top - bottom
    vmax = nice_max(max((v for _, v in columns), default=0.0))
    n = max(1, len(columns))
    slot = pw / n
    rects, texts, lines = [], [], []
    for i in range(5):
        y = top + ph * i / 4
        lines.append(Line(left, y, left + pw, y, "grid"))
        texts.append(Text(left - 6, y + 4, fmt(vmax * (1 - i / 4), unit if i == 0 else ""), "end", "axis"))
    step = max(1, math.ceil(n / 12))          # at most ~12 labels under the axis
    for i, (label, value) in enumerate(columns):
        h = ph * value / vmax
        x = left + i * slot + slot * 0.1
        rects.append(Rect(x, top + ph - h, slot * 0.8, h, "bar", f"{label}: {fmt(value, unit)}"))
        if i % step == 0:
            texts.append(Text(x + slot * 0.4, height - 12, label[:10], "middle", "axis"))
    return Chart(title, width, height, tuple(rects), tuple(texts), tuple(lines))
