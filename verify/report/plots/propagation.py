"""`propagation`: chi_1 at the variance map's fixed point against sigma_w^2, one curve per
sigma_b^2, with the edge of chaos (chi_1 = 1) and the initialisations the check used marked."""

from __future__ import annotations

import math
from typing import Any

from verify.report.figures import detail_plot, figure, num, svg


@detail_plot("propagation")
def plot_propagation(name: str, details: dict[str, Any]) -> str | None:
    curve = details.get("chi1_curve")
    if not curve:
        return None
    sw2 = [num(v) for v in curve["sigma_w2"]]
    fig, ax = figure(6.4, 3.0)
    for i, (sb2, row) in enumerate(zip(curve["sigma_b2"], curve["chi1"], strict=True)):
        pts = [(s, num(c)) for s, c in zip(sw2, row, strict=True) if math.isfinite(num(c)) and num(c) > 0]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=f"C{i}", linewidth=1.2,
                label=f"sigma_b^2 = {num(sb2):g}")
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=0.8)
    critical = details.get("critical_sigma_w2")
    if critical is not None:
        ax.axvline(num(critical), color="crimson", linewidth=1, alpha=0.7)
        ax.plot([num(critical)], [1.0], marker="o", color="crimson", label=f"edge of chaos ({num(critical):.4g})")
    marks = [("sigma_w2", "chi1", "s", "experiment"), ("declared_gain", "chi1_declared_gain", "D", "declared gain"),
             ("torch_gain", "chi1_torch_gain", "^", "torch gain")]
    for key, chi_key, marker, label in marks:
        if details.get(key) is None or details.get(chi_key) is None:
            continue
        s = num(details[key]) if key == "sigma_w2" else num(details[key]) ** 2
        ax.plot([s], [num(details[chi_key])], marker=marker, linestyle="none", color="black", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sigma_w^2")
    ax.set_ylabel("chi_1 at q*")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"{name}: gradient growth per layer (mean field)")
    return svg(fig, f"{name}: chi_1 at the fixed point against sigma_w squared, for several bias variances, "
                    "with the edge of chaos marked")
