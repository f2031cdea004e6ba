"""Throughput against size: eager, compiled, built-in and naive, with the measured
bandwidth limit, from the benchmark JSON."""

from __future__ import annotations

from typing import Any

from verify.report.figures import figure, svg

STYLE = {"eager": ("C0", "o"), "compiled": ("C2", "s"), "builtin": ("C1", "^"), "naive": ("C7", "x")}


def plot_bench(name: str, rows: list[dict[str, Any]], bandwidth: list[dict[str, Any]], dtype: str = "float32") -> str | None:
    rows = [r for r in rows if r.get("dtype") == dtype and "effective_gbps" in r]
    if not rows:
        return None
    fig, axes = figure(9.0, 3.0, columns=2)
    for ax, mode in zip(axes, ("forward", "forward_backward"), strict=True):
        for variant, (color, marker) in STYLE.items():
            pts = sorted((r["size"], r["effective_gbps"]) for r in rows if r["mode"] == mode and r["variant"] == variant)
            if pts:
                ax.plot(*zip(*pts, strict=True), color=color, marker=marker, label=variant)
        limit = sorted((b["size"], b["alloc_gbps"]) for b in bandwidth if b["dtype"] == dtype)
        if limit:
            ax.plot(*zip(*limit, strict=True), color="black", linestyle=":", label="bandwidth limit")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("elements")
        ax.set_title(mode.replace("_", "+"))
    axes[0].set_ylabel(f"effective GB/s ({dtype})")
    axes[1].legend(fontsize=7, loc="best")
    fig.suptitle(f"{name}: throughput")
    return svg(fig, f"Throughput of {name} against size, with the built-in, compiled and naive variants and the bandwidth limit")
