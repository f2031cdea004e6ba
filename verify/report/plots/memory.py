"""`memory`: bytes per input element saved for backward, and the peaks of a training
step and of a no_grad call, out of place against in place."""

from __future__ import annotations

from typing import Any

from verify.report.chart import Chart, color
from verify.report.figures import detail_plot, num

BARS = {"out of place": color(0), "in place": color(2), "autograd reference": color(7)}


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
    series = {bar: (c, [None if g.get(bar) is None else num(g[bar]) for g in groups.values()])
              for bar, c in BARS.items()}
    series = {k: v for k, v in series.items() if any(x is not None for x in v[1])}
    chart = Chart(f"{name}: memory ({details.get('method', 'accounting')}, {details.get('device', 'cpu')})",
                  ylabel=f"bytes per element ({details.get('dtype', '')})")
    chart.bars(list(groups), series)
    return chart.svg(f"Bar chart of {name}'s memory: bytes per element saved for backward and the training and "
                     "no_grad peaks, out of place against in place")
