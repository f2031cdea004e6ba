"""`kinks`: f around each kink at the default parameters, with the tangents of slope
d- (left) and d+ (right) and the slope autograd returns at the kink."""

from __future__ import annotations

import math
from typing import Any

from verify.report.chart import CRIMSON, Chart, color
from verify.report.figures import detail_plot, num

MAX_PANELS = 4


@detail_plot("kinks")
def plot_kinks(name: str, details: dict[str, Any]) -> str | None:
    entries = [e for e in details.get("kinks", []) if "samples" in e][:MAX_PANELS]
    if not entries:
        return None
    multi = len(details.get("scans", [{}])[0].get("channel_groups", [[]])) > 1
    panels = []
    for e in entries:
        xs, fs = [num(v) for v in e["samples"]["x"]], [num(v) for v in e["samples"]["f"]]
        x0, r = num(e["x"]), (xs[-1] - xs[0]) / 2
        left, right = num(e["left_value"]), num(e["right_value"])
        d_left, d_right = num(e["left_derivative"]), num(e["right_derivative"])
        channels = f", ch {','.join(str(c) for c in e['channels'])}" if multi else ""
        chart = Chart(f"{name} at x = {x0:.6g}: {e['smoothness']}{channels}", xlabel="x")
        chart.line(xs, fs, stroke=color(0), label="f")
        chart.line([x0 - r, x0], [left - d_left * r, left], stroke=color(1), dash=True, label="slope d-")
        chart.line([x0, x0 + r], [right, right + d_right * r], stroke=color(2), dash=True, label="slope d+")
        g, value = num(e["grad_at_kink"]["float64"]), num(e["value"])
        if math.isfinite(g) and math.isfinite(value):
            chart.line([x0 - r / 2, x0 + r / 2], [value - g * r / 2, value + g * r / 2], stroke=CRIMSON, width=2.5,
                       label="autograd's slope")
        else:
            chart.vline(x0, stroke=CRIMSON, label=f"autograd: {g}")
        panels.append(chart.svg(f"{name} near its kink at {x0:.6g}, with the one-sided slopes and autograd's gradient"))
    return "".join(panels)
