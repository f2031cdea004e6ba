"""The report's figures: the f and f' curve, f and f' of a family overlaid, and the
registry of plots drawn from a check's details (each module of ``verify.report.plots``
adds its own with ``@detail_plot``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from verify.report.chart import CRIMSON, Chart, color, colors


def num(v: Any) -> float:
    """Numbers from the JSON, where non-finite values are spelled as strings."""
    if isinstance(v, str):
        return float(v)
    return float(v) if v is not None else math.nan


def plot_curve(name: str, curve: dict[str, Any]) -> str:
    """f and f' over a range that shows the kinks, kinks marked."""
    variable = curve.get("variable")  # a gated activation's first half, b held
    chart = Chart(f"{name}: f and f'" + (f" in {variable}" if variable else ""), xlabel=str(variable or "x")
                  .split(" ")[0])
    x = [num(v) for v in curve["x"]]
    for i, (f, df) in enumerate(zip(curve["f"], curve["df"], strict=True)):
        label = "" if len(curve["f"]) == 1 else f" (channel {curve['channels'][i]})"
        chart.line(x, [num(v) for v in f], stroke=color(2 * i), label=f"f{label}")
        chart.line(x, [num(v) for v in df], stroke=color(2 * i + 1), dash=True, label=f"f'{label}")
    for k in curve.get("kinks", []):
        chart.vline(num(k), stroke=CRIMSON, label="kink")
    return chart.svg(f"Plot of {name} and its derivative")


FAMILY_RANGE = 6.0  # |x| shown when activations are overlaid: where they differ


def plot_family(family: str, curves: dict[str, dict[str, Any]]) -> str:
    """f (solid) and f' (dashed) of every activation of a family on one pair of axes
    (channel 0 of a channel-dependent one)."""
    chart = Chart(f"{family}: f (solid) and f' (dashed)", xlabel="x", height=220)
    for c, (name, curve) in zip(colors(len(curves)), sorted(curves.items()), strict=True):
        keep = [j for j, v in enumerate(curve["x"]) if abs(num(v)) <= FAMILY_RANGE]
        x = [num(curve["x"][j]) for j in keep]
        chart.line(x, [num(curve["f"][0][j]) for j in keep], stroke=c, label=name)
        chart.line(x, [num(curve["df"][0][j]) for j in keep], stroke=c, dash=True, width=1.0)
    return chart.svg(f"The {family} activations and their derivatives overlaid")


# Plots drawn from a check's details, by check id.
DETAIL_PLOTS: dict[str, Callable[[str, dict[str, Any]], str | None]] = {}


def detail_plot(check_id: str) -> Callable[[Callable[[str, dict[str, Any]], str | None]],
                                           Callable[[str, dict[str, Any]], str | None]]:
    def register(fn: Callable[[str, dict[str, Any]], str | None]) -> Callable[[str, dict[str, Any]], str | None]:
        DETAIL_PLOTS[check_id] = fn
        return fn

    return register
