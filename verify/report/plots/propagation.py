"""`propagation`: chi_1 at the variance map's fixed point against sigma_w^2, one curve per
sigma_b^2, with the edge of chaos (chi_1 = 1) and the initialisations the check used marked."""

from __future__ import annotations

import math
from typing import Any

from verify.report.chart import CRIMSON, Chart, color
from verify.report.figures import detail_plot, num

MARKS = [("sigma_w2", "chi1", "square", "experiment"), ("declared_gain", "chi1_declared_gain", "diamond", "declared gain"),
         ("torch_gain", "chi1_torch_gain", "triangle", "torch gain")]


@detail_plot("propagation")
def plot_propagation(name: str, details: dict[str, Any]) -> str | None:
    curve = details.get("chi1_curve")
    if not curve:
        return None
    sw2 = [num(v) for v in curve["sigma_w2"]]
    chart = Chart(f"{name}: gradient growth per layer (mean field)", xlabel="sigma_w^2", ylabel="chi_1 at q*",
                  xlog=True, ylog=True)
    for i, (sb2, row) in enumerate(zip(curve["sigma_b2"], curve["chi1"], strict=True)):
        chart.line(sw2, [num(c) for c in row], stroke=color(i), label=f"sigma_b^2 = {num(sb2):g}")
    chart.hline(1.0)
    critical = details.get("critical_sigma_w2")
    if critical is not None and math.isfinite(num(critical)):
        chart.vline(num(critical), stroke=CRIMSON, label=f"edge of chaos ({num(critical):.4g})")
    for key, chi_key, shape, label in MARKS:
        if details.get(key) is None or details.get(chi_key) is None:
            continue
        s = num(details[key]) if key == "sigma_w2" else num(details[key]) ** 2
        chart.points([s], [num(details[chi_key])], stroke="#000", shape=shape, label=label)
    return chart.svg(f"{name}: chi_1 at the fixed point against sigma_w squared, for several bias variances, "
                     "with the edge of chaos marked")
