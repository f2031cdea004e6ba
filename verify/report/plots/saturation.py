"""`saturation`: |f'| on a log scale over each dtype's whole signed range, with the
vanishing, exploding, exactly-zero and non-finite regions shaded. The x axis is signed-log,
u = sign(x) log10(1 + |x|): linear near 0, a decade per unit beyond (matplotlib's symlog
scale overflows at float64's largest values)."""

from __future__ import annotations

import math
from typing import Any

from verify.report.figures import detail_plot, figure, num, svg

SHADES = {"vanishing": ("C0", "vanishing"), "exploding": ("C3", "exploding"),
          "zero_grad": ("C7", "f' = 0 (rounding)"), "nonfinite": ("black", "non-finite")}


@detail_plot("saturation")
def plot_saturation(name: str, details: dict[str, Any]) -> str | None:
    records = {dt: r for dt, r in details.get("dtypes", {}).items() if "curve" in r}
    if not records:
        return None
    thresholds = details.get("thresholds", {})
    fig, ax = figure(6.4, 1.3 * len(records) + 0.6)
    ax.remove()
    axes = fig.subplots(len(records), 1, squeeze=False)[:, 0]
    for ax, (dt, r) in zip(axes, records.items(), strict=True):
        xs = [_u(num(v)) for v in r["curve"]["x"]]
        ys = [num(v) for v in r["curve"]["abs_grad"]]
        shown = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y) and y > 0]
        if shown:
            ax.plot([p[0] for p in shown], [p[1] for p in shown], color="C1", linewidth=1.2, label="|f'|")
        for key, (color, label) in SHADES.items():
            for i, (lo, hi) in enumerate(r.get(key, [])):
                ax.axvspan(_u(num(lo)), _u(num(hi)), color=color, alpha=0.15 if key != "zero_grad" else 0.3,
                           label=label if i == 0 else None)
        for key, style in (("vanishing", ":"), ("exploding", "--")):
            if key in thresholds:
                ax.axhline(num(thresholds[key]), color="grey", linestyle=style, linewidth=0.8)
        ax.set_yscale("log")
        top = _u(num(r.get("max", 1.0)))
        ax.set_xlim(-top, top)
        step = next(n for n in (1, 2, 5, 10, 20, 50, 100, 1000) if n >= top / 4)
        ticks = [k for k in range(step, math.floor(top) + 1, step)]
        ax.set_xticks([-k for k in reversed(ticks)] + [0] + ticks,
                      [f"-1e{k}" for k in reversed(ticks)] + ["0"] + [f"1e{k}" for k in ticks], fontsize=7)
        ax.set_ylabel(dt, fontsize=8)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1].set_xlabel("x (signed log scale)")
    fig.suptitle(f"{name}: |f'| over each dtype's range", y=1.0)
    return svg(fig, f"{name}: the absolute gradient on a log scale across the finite range of each dtype, "
                    "with vanishing, exploding, exactly-zero and non-finite regions shaded")


def _u(x: float) -> float:
    return math.copysign(math.log10(1.0 + abs(x)), x) if math.isfinite(x) else math.copysign(math.inf, x)
