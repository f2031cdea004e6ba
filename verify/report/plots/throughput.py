"""The bench's rows for one activation: effective GB/s against size for each variant,
with the machine's bandwidth limit measured in the same run."""

from __future__ import annotations

from typing import Any

from verify.report.chart import Chart, color

STYLE = {"eager": (color(0), "circle"), "compiled": (color(2), "square"), "builtin": (color(1), "triangle"),
         "naive": (color(7), "diamond")}


def plot_bench(name: str, rows: list[dict[str, Any]], bandwidth: list[dict[str, Any]], dtype: str = "float32") -> str | None:
    rows = [r for r in rows if r.get("dtype") == dtype and "effective_gbps" in r]
    if not rows:
        return None
    panels = []
    for mode in ("forward", "forward_backward"):
        chart = Chart(f"{name}: {mode.replace('_', '+')} throughput", xlabel="elements",
                      ylabel=f"effective GB/s ({dtype})", xlog=True, ylog=True)
        for variant, (c, shape) in STYLE.items():
            pts = sorted((r["size"], r["effective_gbps"]) for r in rows if r["mode"] == mode and r["variant"] == variant)
            if pts:
                xs, ys = [p[0] for p in pts], [p[1] for p in pts]
                chart.line(xs, ys, stroke=c, label=variant)
                chart.points(xs, ys, stroke=c, shape=shape)
        limit = sorted((b["size"], b["alloc_gbps"]) for b in bandwidth if b["dtype"] == dtype)
        if limit:
            chart.line([p[0] for p in limit], [p[1] for p in limit], stroke="#000", dash=True, label="bandwidth limit")
        panels.append(chart.svg(f"{mode.replace('_', '+')} throughput of {name} against size, with the built-in, "
                                "compiled and naive variants and the bandwidth limit"))
    return "".join(panels)
