"""Server-side SVG charts (no JavaScript, nothing fetched): bars, stacked bars and lines with axes.

Each function returns one svg element of class "chart" with data-chart=NAME, as Markup rendered
from templates/chart.svg (autoescaped: every text in it is escaped). The functions here only work
out the geometry: a list of Mark(tag, attributes, text, title). Marks carry class "mark" and a
title so a hover shows the value.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, NamedTuple, Sequence

from markupsafe import Markup

from bot.web.render import render

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
W, H = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 36, 64


def nice_max(value: float) -> float:
    """A round axis top >= value (1, 2, 2.5, 5 x 10^k)."""
    if value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        top = m * 10 ** exp
        if top >= value * 0.999999:
            return float(top)
    return float(10 ** (exp + 1))


def nice_step(value: float, ticks: int) -> float:
    """A round tick step (1, 2, 5 x 10^k, at least 1) so that `ticks` steps cover value: for counts."""
    raw = max(1.0, value / ticks)
    exp = math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * 10 ** exp >= raw * 0.999999:
            return float(m * 10 ** exp)
    return float(10 ** (exp + 1))


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:g}" if float(v).is_integer() else f"{v:.2f}"
    return f"{v:.4f}".rstrip("0").rstrip(".")


class Mark(NamedTuple):
    tag: str  # line, text, rect, circle, path
    attrs: tuple[tuple[str, str], ...]
    text: str | None = None
    title: str | None = None  # a hover text inside the element


def _mark(tag: str, text: str | None = None, title: str | None = None, **attrs: object) -> Mark:
    """attrs with _ for - (text_anchor="end") and class_ for class."""
    return Mark(tag, tuple((k.rstrip("_").replace("_", "-"), str(v)) for k, v in attrs.items()), text, title)


def _svg(name: str, title: str, marks: list[Mark]) -> Markup:
    return render("chart.svg", name=name, title=title, w=W, h=H, marks=marks)


def _frame(title: str, y_max: float, labels: Sequence[str], y_fmt: Callable[[float], str], y_label: str,
           ticks: int = 4) -> list[Mark]:
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    out = [_mark("text", title, x=W / 2, y=20, text_anchor="middle", class_="title", font_size=15, font_weight=600)]
    for i in range(ticks + 1):  # horizontal grid and y ticks
        v = y_max * i / ticks
        y = TOP + ph - ph * i / ticks
        out.append(_mark("line", x1=LEFT, y1=f"{y:.1f}", x2=LEFT + pw, y2=f"{y:.1f}", stroke="#ddd"))
        out.append(_mark("text", y_fmt(v), x=LEFT - 6, y=f"{y + 4:.1f}", text_anchor="end", font_size=11))
    out.append(_mark("line", class_="axis", x1=LEFT, y1=TOP, x2=LEFT, y2=TOP + ph, stroke="#333"))
    out.append(_mark("line", class_="axis", x1=LEFT, y1=TOP + ph, x2=LEFT + pw, y2=TOP + ph, stroke="#333"))
    if y_label:
        out.append(_mark("text", y_label, x=14, y=TOP + ph / 2, font_size=11, text_anchor="middle",
                         transform=f"rotate(-90 14 {TOP + ph / 2})"))
    n = max(1, len(labels))
    step = max(1, math.ceil(n / 12))  # at most ~12 x labels
    for i, label in enumerate(labels):
        if i % step:
            continue
        x = LEFT + pw * (i + 0.5) / n
        out.append(_mark("text", label, x=f"{x:.1f}", y=TOP + ph + 14, font_size=10, text_anchor="end",
                         transform=f"rotate(-35 {x:.1f} {TOP + ph + 14})"))
    return out


def _legend(names: Sequence[str]) -> list[Mark]:
    out, x = [], LEFT
    for i, name in enumerate(names):
        out.append(_mark("rect", x=x, y=H - 14, width=10, height=10, fill=PALETTE[i % len(PALETTE)]))
        out.append(_mark("text", name, x=x + 14, y=H - 5, font_size=11, class_="legend"))
        x += 24 + 7 * len(name)
    return out


def _empty(name: str, title: str, out: list[Mark]) -> Markup:
    out.append(_mark("text", "no data in this range", x=W / 2, y=H / 2, text_anchor="middle", font_size=13,
                     fill="#777", class_="empty"))
    return _svg(name, title, out)


def bar_chart(name: str, title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], *,
              stacked: bool = True, y_label: str = "", y_fmt: Callable[[float], str] = _fmt,
              integer: bool = True) -> Markup:
    """Bars per label; several series are stacked (or side by side with stacked=False). integer: counts."""
    names = list(series)
    if stacked:
        peak = max((sum(series[s][i] or 0 for s in names) for i in range(len(labels))), default=0)
    else:
        peak = max((v or 0 for s in names for v in series[s]), default=0)
    y_max = nice_step(peak, 4) * 4 if integer else nice_max(peak)
    out = _frame(title, y_max, labels, y_fmt, y_label)
    if not labels or peak <= 0:
        return _empty(name, title, out + _legend(names))
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    slot = pw / len(labels)
    width = slot * 0.7 / (1 if stacked else len(names))
    for i, label in enumerate(labels):
        base = 0.0
        for j, s in enumerate(names):
            v = float(series[s][i] or 0)
            if v <= 0:
                continue
            h = ph * v / y_max
            x = LEFT + slot * i + slot * 0.15 + (0 if stacked else j * width)
            y = TOP + ph - ph * base / y_max - h
            out.append(_mark("rect", title=f"{label} {s}: {y_fmt(v)}", class_="mark bar", x=f"{x:.1f}",
                             y=f"{y:.1f}", width=f"{width:.1f}", height=f"{h:.1f}", fill=PALETTE[j % len(PALETTE)]))
            if stacked:
                base += v
    if len(names) > 1:
        out += _legend(names)
    return _svg(name, title, out)


def line_chart(name: str, title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
               y_label: str = "", y_fmt: Callable[[float], str] = _fmt, y_max: float | None = None,
               ticks: int = 4) -> Markup:
    """One line (with a dot per point) per series; None leaves a gap."""
    names = list(series)
    peak = max((v for s in names for v in series[s] if v is not None), default=0)
    top = y_max if y_max is not None else nice_max(peak)
    out = _frame(title, top, labels, y_fmt, y_label, ticks)
    if not labels or not any(v is not None for s in names for v in series[s]):
        return _empty(name, title, out + _legend(names))
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    n = len(labels)
    for j, s in enumerate(names):
        color = PALETTE[j % len(PALETTE)]
        points = [(LEFT + pw * (i + 0.5) / n, TOP + ph - ph * float(v) / top, labels[i], v)
                  for i, v in enumerate(series[s]) if v is not None]
        if len(points) > 1:
            d = " ".join(f"{'M' if k == 0 else 'L'}{x:.1f},{y:.1f}" for k, (x, y, _, _) in enumerate(points))
            out.append(_mark("path", class_="mark line", d=d, fill="none", stroke=color, stroke_width=2))
        for x, y, label, v in points:
            out.append(_mark("circle", title=f"{label} {s}: {y_fmt(float(v))}", class_="mark dot", cx=f"{x:.1f}",
                             cy=f"{y:.1f}", r=3.5, fill=color))
    out += _legend(names)
    return _svg(name, title, out)
