"""`kinks`: f around each kink at the default parameters, with the tangents of slope
d- (left) and d+ (right) and the slope autograd returns at the kink."""

from __future__ import annotations

import math
from typing import Any

from verify.report.figures import detail_plot, figure, num, svg

MAX_PANELS = 4


@detail_plot("kinks")
def plot_kinks(name: str, details: dict[str, Any]) -> str | None:
    entries = [e for e in details.get("kinks", []) if "samples" in e][:MAX_PANELS]
    if not entries:
        return None
    fig, ax = figure(2.4 * len(entries) + 0.8, 2.6)
    ax.remove()
    axes = fig.subplots(1, len(entries), squeeze=False)[0]
    for ax, e in zip(axes, entries, strict=True):
        xs, fs = [num(v) for v in e["samples"]["x"]], [num(v) for v in e["samples"]["f"]]
        x0, r = num(e["x"]), (xs[-1] - xs[0]) / 2
        left, right = num(e["left_value"]), num(e["right_value"])
        d_left, d_right = num(e["left_derivative"]), num(e["right_derivative"])
        ax.plot(xs, fs, color="C0", label="f")
        ax.plot([x0 - r, x0], [left - d_left * r, left], color="C1", linestyle="--", label="slope d-")
        ax.plot([x0, x0 + r], [right, right + d_right * r], color="C2", linestyle="--", label="slope d+")
        g, value = num(e["grad_at_kink"]["float64"]), num(e["value"])
        if math.isfinite(g) and math.isfinite(value):
            ax.plot([x0 - r / 2, x0 + r / 2], [value - g * r / 2, value + g * r / 2], color="crimson",
                    linestyle=":", linewidth=2, label="autograd's slope")
        else:
            ax.text(x0, value if math.isfinite(value) else left, f"autograd: {g}", color="crimson", fontsize=8)
        channels = "" if len(details.get("scans", [{}])[0].get("channel_groups", [[]])) <= 1 else \
            f", ch {','.join(str(c) for c in e['channels'])}"
        ax.set_title(f"x={x0:.6g}: {e['smoothness']}{channels}", fontsize=9)
        ax.set_xlabel("x")
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{name}: f at its kinks", y=1.06)
    return svg(fig, f"{name} near each of its kinks, with the one-sided slopes and autograd's gradient there")
