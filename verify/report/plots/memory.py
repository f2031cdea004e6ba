"""Memory of one activation, from the `memory` check's details: bytes saved for the
backward (the subject's, autograd through its reference formula's) and the realistic
step's training and no_grad peaks, out of place against in place, per input element."""

from __future__ import annotations

from typing import Any

from verify.report.figures import detail_plot, figure, num, svg

BARS = {"out of place": "C0", "in place": "C2", "autograd reference": "C7"}


@detail_plot("memory")
def plot_memory(name: str, details: dict[str, Any]) -> str | None:
    numel = details.get("input_numel")
    if not numel or "saved_bytes_per_element" not in details:
        return None

    def per_el(key: str) -> float | None:
        v = details.get(key)
        return None if v is None else num(v) / numel

    naive = details.get("naive_saved")
    groups = {
        "saved for backward": {"out of place": num(details["saved_bytes_per_element"]),
                               "in place": (details.get("inplace_saved") or {}).get("bytes_per_element"),
                               "autograd reference": None if naive is None else naive.get("bytes_per_element")},
        "training peak": {"out of place": per_el("peak_bytes_out_of_place"),
                          "in place": per_el("peak_bytes_in_place")},
        "no_grad peak": {"out of place": per_el("no_grad_peak_bytes_out_of_place"),
                         "in place": per_el("no_grad_peak_bytes_in_place")},
    }
    fig, ax = figure(6.4, 2.8)
    width = 0.8 / len(BARS)
    for i, (bar, color) in enumerate(BARS.items()):
        xs, ys = [], []
        for g, values in enumerate(groups.values()):
            v = values.get(bar)
            if v is not None:
                xs.append(g + (i - (len(BARS) - 1) / 2) * width)
                ys.append(num(v))
        if xs:
            ax.bar(xs, ys, width=width, color=color, label=bar)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_ylabel(f"bytes per input element ({details.get('dtype', '')})")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"{name}: memory ({details.get('method', 'accounting')}, {details.get('device', 'cpu')})")
    return svg(fig, f"Bar chart of {name}'s memory: bytes per element saved for backward and the training and "
                    "no_grad peaks, out of place against in place")
