"""Small inline SVG charts: lines, markers, reference lines, shaded spans and grouped
bars on linear or log axes, with a legend.

The report draws a few hundred of these, so each must be cheap and small: a general
plotting library's round-trip per figure dominated the report's time and size, and its
SVG repeats element ids (``figure_1``) across a page. These carry no ids at all, draw
only what the report needs, and round every coordinate to 0.1 px.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
CRIMSON = "#dc143c"
PLOT_W, PLOT_H = 380.0, 170.0  # the plotting area, in px
MARGIN_L, MARGIN_T, MARGIN_B, LEGEND_W = 58.0, 26.0, 38.0, 150.0


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def colors(n: int) -> list[str]:
    """``n`` colours, no two alike: the palette while it lasts, else hues spaced evenly
    around the colour wheel."""
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    return [f"hsl({round(360 * i / n)}, 70%, {42 if i % 2 else 55}%)" for i in range(n)]


@dataclass
class _Mark:
    kind: str  # line, points, vline, hline, span, bars, text
    data: dict
    label: str | None = None


@dataclass
class Chart:
    title: str
    xlabel: str = ""
    ylabel: str = ""
    xlog: bool = False
    ylog: bool = False
    xticks: Sequence[tuple[float, str]] | None = None  # fixed ticks (value, label)
    height: float = PLOT_H
    marks: list[_Mark] = field(default_factory=list)

    # -- what to draw ---------------------------------------------------------------
    def line(self, xs: Sequence[float], ys: Sequence[float], *, stroke: str, dash: bool = False,
             label: str | None = None, width: float = 1.5) -> Chart:
        self.marks.append(_Mark("line", {"xs": list(xs), "ys": list(ys), "stroke": stroke, "dash": dash,
                                         "width": width}, label))
        return self

    def points(self, xs: Sequence[float], ys: Sequence[float], *, stroke: str, shape: str = "circle",
               label: str | None = None) -> Chart:
        self.marks.append(_Mark("points", {"xs": list(xs), "ys": list(ys), "stroke": stroke, "shape": shape}, label))
        return self

    def vline(self, x: float, *, stroke: str, dash: bool = False, label: str | None = None) -> Chart:
        self.marks.append(_Mark("vline", {"x": x, "stroke": stroke, "dash": dash}, label))
        return self

    def hline(self, y: float, *, stroke: str = "#888", dash: bool = True, label: str | None = None) -> Chart:
        self.marks.append(_Mark("hline", {"y": y, "stroke": stroke, "dash": dash}, label))
        return self

    def span(self, x0: float, x1: float, *, fill: str, opacity: float = 0.15, label: str | None = None) -> Chart:
        self.marks.append(_Mark("span", {"x0": x0, "x1": x1, "fill": fill, "opacity": opacity}, label))
        return self

    def bars(self, groups: Sequence[str], series: Mapping[str, tuple[str, Sequence[float | None]]]) -> Chart:
        """Grouped bars: ``series`` maps a label to (colour, one value per group)."""
        self.marks.append(_Mark("bars", {"groups": list(groups), "series": series}))
        self.xticks = [(i, g) for i, g in enumerate(groups)]
        return self

    # -- drawing --------------------------------------------------------------------
    def svg(self, alt: str) -> str:
        xr, yr = self._ranges()
        sx, sy = _Scale(*xr, self.xlog, MARGIN_L, MARGIN_L + PLOT_W), _Scale(*yr, self.ylog, MARGIN_T + self.height, MARGIN_T)
        width, height = MARGIN_L + PLOT_W + LEGEND_W, MARGIN_T + self.height + MARGIN_B
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
               f'height="{height:.0f}" role="img" aria-label="{escape(alt)}" font-family="sans-serif" font-size="10">',
               f"<title>{escape(alt)}</title>",
               f'<text x="{MARGIN_L + PLOT_W / 2:.1f}" y="15" text-anchor="middle" font-size="11">{escape(self.title)}</text>']
        out += self._axes(sx, sy)
        for m in self.marks:  # the ranges hold every mark, so nothing needs clipping
            out += _draw(m, sx, sy, self.height)
        out += self._legend()
        out.append("</svg>")
        return "".join(out)

    def _ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        xs: list[float] = []
        ys: list[float] = []
        for m in self.marks:
            d = m.data
            if m.kind in ("line", "points"):
                pairs = [(x, y) for x, y in zip(d["xs"], d["ys"], strict=False) if _ok(x, self.xlog) and _ok(y, self.ylog)]
                xs += [p[0] for p in pairs]
                ys += [p[1] for p in pairs]
            elif m.kind == "vline" and _ok(d["x"], self.xlog):
                xs.append(d["x"])
            elif m.kind == "hline" and _ok(d["y"], self.ylog):
                ys.append(d["y"])
            elif m.kind == "span":
                xs += [v for v in (d["x0"], d["x1"]) if _ok(v, self.xlog)]
            elif m.kind == "bars":
                xs += [-0.5, len(d["groups"]) - 0.5]
                ys += [0.0] + [v for _, vals in d["series"].values() for v in vals if v is not None and math.isfinite(v)]
        if self.xticks:
            xs += [v for v, _ in self.xticks]
        return _span(xs, self.xlog), _span(ys, self.ylog, pad=0.05)

    def _axes(self, sx: _Scale, sy: _Scale) -> list[str]:
        x0, x1, y0, y1 = MARGIN_L, MARGIN_L + PLOT_W, MARGIN_T + self.height, MARGIN_T
        out = [f'<rect x="{x0}" y="{y1}" width="{PLOT_W}" height="{self.height}" fill="none" stroke="#999"/>']
        xticks = self.xticks if self.xticks is not None else _ticks(sx.lo, sx.hi, self.xlog)
        for v, text in xticks:
            px = sx(v)
            out.append(f'<line x1="{px:.1f}" y1="{y1}" x2="{px:.1f}" y2="{y0}" stroke="#eee"/>'
                       f'<text x="{px:.1f}" y="{y0 + 13:.1f}" text-anchor="middle">{escape(text)}</text>')
        for v, text in _ticks(sy.lo, sy.hi, self.ylog):
            py = sy(v)
            out.append(f'<line x1="{x0}" y1="{py:.1f}" x2="{x1}" y2="{py:.1f}" stroke="#eee"/>'
                       f'<text x="{x0 - 4}" y="{py + 3:.1f}" text-anchor="end">{escape(text)}</text>')
        if self.xlabel:
            out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{y0 + 30:.1f}" text-anchor="middle">{escape(self.xlabel)}</text>')
        if self.ylabel:
            out.append(f'<text transform="translate(12 {(y0 + y1) / 2:.1f}) rotate(-90)" text-anchor="middle">'
                       f"{escape(self.ylabel)}</text>")
        return out

    def _legend(self) -> list[str]:
        entries: list[tuple[str, str, str]] = []
        for m in self.marks:
            if m.kind == "bars":
                entries += [(label, "box", c) for label, (c, _) in m.data["series"].items()]
            elif m.label and all(e[0] != m.label for e in entries):
                style = "box" if m.kind == "span" else "dash" if m.data.get("dash") else "line"
                entries.append((m.label, style, m.data.get("stroke") or m.data.get("fill", "#000")))
        out: list[str] = []
        x, y = MARGIN_L + PLOT_W + 10, MARGIN_T + 8.0
        for label, style, c in entries[:14]:
            if style == "box":
                out.append(f'<rect x="{x}" y="{y - 6}" width="14" height="8" fill="{c}" fill-opacity="0.5"/>')
            else:
                dash = ' stroke-dasharray="4 2"' if style == "dash" else ""
                out.append(f'<line x1="{x}" y1="{y - 2}" x2="{x + 14}" y2="{y - 2}" stroke="{c}" stroke-width="2"{dash}/>')
            out.append(f'<text x="{x + 18}" y="{y + 1}">{escape(label[:26])}</text>')
            y += 13
        return out


@dataclass
class _Scale:
    lo: float
    hi: float
    log: bool
    p0: float
    p1: float

    def __call__(self, v: float) -> float:
        f = (lambda t: math.log10(t)) if self.log else (lambda t: t)
        v = min(max(v, self.lo), self.hi) if self.log else v
        span = f(self.hi) - f(self.lo)
        return self.p0 + (f(v) - f(self.lo)) / span * (self.p1 - self.p0) if span else (self.p0 + self.p1) / 2


def _ok(v: float, log: bool) -> bool:
    return v is not None and math.isfinite(v) and (v > 0 or not log)


def _span(values: list[float], log: bool, pad: float = 0.0) -> tuple[float, float]:
    if not values:
        return (1.0, 10.0) if log else (0.0, 1.0)
    lo, hi = min(values), max(values)
    if log:
        return (lo, hi) if hi > lo else (lo / 10, hi * 10)
    if hi == lo:
        return lo - 1, hi + 1
    extra = (hi - lo) * pad
    return lo - extra, hi + extra


def _ticks(lo: float, hi: float, log: bool) -> list[tuple[float, str]]:
    if log:
        first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
        every = max(1, math.ceil((last - first + 1) / 6))
        return [(10.0**k, f"1e{k}") for k in range(first, last + 1, every)]
    raw = (hi - lo) / 5
    mag = 10.0 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [(v, f"{v:.4g}") for v in (start + i * step for i in range(int((hi - start) / step + 1e-9) + 1))]


def _draw(m: _Mark, sx: _Scale, sy: _Scale, height: float) -> list[str]:
    d = m.data
    top, bottom = MARGIN_T, MARGIN_T + height
    if m.kind == "line":
        dash = ' stroke-dasharray="5 3"' if d["dash"] else ""
        out = []
        for run in _runs(d["xs"], d["ys"], sx.log, sy.log):
            pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in run)
            out.append(f'<polyline points="{pts}" fill="none" stroke="{d["stroke"]}" stroke-width="{d["width"]}"{dash}/>')
        return out
    if m.kind == "points":
        out = []
        for x, y in zip(d["xs"], d["ys"], strict=False):
            if _ok(x, sx.log) and _ok(y, sy.log):
                out.append(_marker(d["shape"], sx(x), sy(y), d["stroke"]))
        return out
    if m.kind == "vline":
        if not _ok(d["x"], sx.log):
            return []
        dash = ' stroke-dasharray="4 3"' if d["dash"] else ""
        return [f'<line x1="{sx(d["x"]):.1f}" y1="{top}" x2="{sx(d["x"]):.1f}" y2="{bottom}" stroke="{d["stroke"]}"{dash}/>']
    if m.kind == "hline":
        if not _ok(d["y"], sy.log):
            return []
        dash = ' stroke-dasharray="4 3"' if d["dash"] else ""
        return [f'<line x1="{MARGIN_L}" y1="{sy(d["y"]):.1f}" x2="{MARGIN_L + PLOT_W}" y2="{sy(d["y"]):.1f}" '
                f'stroke="{d["stroke"]}"{dash}/>']
    if m.kind == "span":
        a, b = sorted((sx(_clip(d["x0"], sx)), sx(_clip(d["x1"], sx))))
        return [f'<rect x="{a:.1f}" y="{top}" width="{max(b - a, 0.8):.1f}" height="{height}" fill="{d["fill"]}" '
                f'fill-opacity="{d["opacity"]}"/>']
    if m.kind == "bars":
        n = len(d["series"])
        width = 0.8 / n
        out = []
        for i, (c, values) in enumerate(d["series"].values()):
            for g, v in enumerate(values):
                if v is None or not math.isfinite(v):
                    continue
                left, right = sx(g + (i - n / 2) * width), sx(g + (i - n / 2 + 1) * width)
                y0, y1 = sy(max(v, 0.0)), sy(min(v, 0.0))
                out.append(f'<rect x="{left:.1f}" y="{y0:.1f}" width="{right - left - 1:.1f}" '
                           f'height="{max(y1 - y0, 0.5):.1f}" fill="{c}"/>')
        return out
    return []


def _clip(v: float, s: _Scale) -> float:
    if not math.isfinite(v):
        return s.hi if v > 0 else s.lo
    return v


def _runs(xs: Sequence[float], ys: Sequence[float], xlog: bool, ylog: bool) -> list[list[tuple[float, float]]]:
    """The drawable stretches of a line: a non-finite or unplottable point breaks it."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=False):
        if _ok(x, xlog) and _ok(y, ylog):
            runs[-1].append((x, y))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _marker(shape: str, x: float, y: float, c: str) -> str:
    if shape == "square":
        return f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="{c}"/>'
    if shape == "diamond":
        return f'<polygon points="{x:.1f},{y - 4:.1f} {x + 4:.1f},{y:.1f} {x:.1f},{y + 4:.1f} {x - 4:.1f},{y:.1f}" fill="{c}"/>'
    if shape == "triangle":
        return f'<polygon points="{x:.1f},{y - 4:.1f} {x + 4:.1f},{y + 3:.1f} {x - 4:.1f},{y + 3:.1f}" fill="{c}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{c}"/>'
