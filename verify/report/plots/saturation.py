"""`saturation`: |f'| on a log scale over each dtype's whole signed range, with the
vanishing, exploding, exactly-zero and non-finite regions shaded. The x axis is signed-log,
u = sign(x) log10(1 + |x|): linear near 0, a decade per unit beyond."""

from __future__ import annotations

import math
from typing import Any

from verify.report.chart import Chart, color
from verify.report.figures import detail_plot, num

SHADES = {"vanishing": ("#1f77b4", "vanishing"), "exploding": ("#d62728", "exploding"),
          "zero_grad": ("#7f7f7f", "f' = 0 (rounding)"), "nonfinite": ("#000000", "non-finite")}


@detail_plot("saturation")
def plot_saturation(name: str, details: dict[str, Any]) -> str | None:
    records = {dt: r for dt, r in details.get("dtypes", {}).items() if "curve" in r}
    if not records:
        return None
    thresholds = details.get("thresholds", {})
    panels = []
    for dt, r in records.items():
        top = _u(num(r.get("max", 1.0)))
        step = next(n for n in (1, 2, 5, 10, 20, 50, 100, 1000) if n >= top / 4)
        ticks = list(range(step, math.floor(top) + 1, step))
        xticks = [(-k, f"-1e{k}") for k in reversed(ticks)] + [(0, "0")] + [(k, f"1e{k}") for k in ticks]
        chart = Chart(f"{name}: |f'| over the {dt} range", xlabel="x (signed log scale)", ylabel=dt, ylog=True,
                      xticks=xticks, height=110)
        chart.vline(-top, stroke="none")
        chart.vline(top, stroke="none")
        chart.line([_u(num(v)) for v in r["curve"]["x"]], [num(v) for v in r["curve"]["abs_grad"]], stroke=color(1),
                   label="|f'|")
        for key, (fill, label) in SHADES.items():
            for lo, hi in r.get(key, []):
                chart.span(_u(num(lo)), _u(num(hi)), fill=fill, opacity=0.3 if key == "zero_grad" else 0.15, label=label)
        for key, dash in (("vanishing", True), ("exploding", True)):
            if key in thresholds:
                chart.hline(num(thresholds[key]), dash=dash)
        panels.append(chart.svg(f"{name}: the absolute gradient on a log scale across the finite {dt} range, with "
                                "vanishing, exploding, exactly-zero and non-finite regions shaded"))
    return "".join(panels)


def _u(x: float) -> float:
    return math.copysign(math.log10(1.0 + abs(x)), x) if math.isfinite(x) else math.copysign(math.inf, x)
