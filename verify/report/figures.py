"""Drawing: matplotlib figures as inline SVG, the f and f' curve, and the registry of
plots drawn from a check's details (each module of ``verify.report.plots`` adds its own)."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any


def num(v: Any) -> float:
    """Numbers from the JSON, where non-finite values are spelled as strings."""
    if isinstance(v, str):
        return float(v)
    return float(v) if v is not None else math.nan


def svg(fig: Any, alt: str) -> str:
    """A matplotlib figure as inline SVG with an accessible name; closes the figure."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    # An accessible name for the picture: role=img with a <title> child.
    head_end = text.index(">") + 1
    return (text[: head_end - 1] + f' role="img" aria-label="{_escape(alt)}">' + f"<title>{_escape(alt)}</title>"
            + text[head_end:])


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def figure(width: float = 6.4, height: float = 3.0, columns: int = 1) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})
    return plt.subplots(1, columns, figsize=(width, height), sharey=columns > 1)


def plot_curve(name: str, curve: dict[str, Any]) -> str:
    """f and f' over a range that shows the kinks, kinks marked."""
    fig, ax = figure()
    x = [num(v) for v in curve["x"]]
    for i, (f, df) in enumerate(zip(curve["f"], curve["df"], strict=True)):
        label = "" if len(curve["f"]) == 1 else f" (channel {curve['channels'][i]})"
        ax.plot(x, [num(v) for v in f], color=f"C{2 * i}", label=f"f{label}")
        ax.plot(x, [num(v) for v in df], color=f"C{2 * i + 1}", linestyle="--", label=f"f'{label}")
    for k in curve.get("kinks", []):
        ax.axvline(num(k), color="crimson", alpha=0.5, linewidth=1)
    if curve.get("kinks"):
        ax.plot([], [], color="crimson", alpha=0.5, label="kink")
    ax.set_xlabel("x")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(f"{name}: f and f'")
    return svg(fig, f"Plot of {name} and its derivative")


# Plots drawn from a check's details, by check id: each module of verify.report.plots
# registers its own with @detail_plot("check_id").
DETAIL_PLOTS: dict[str, Callable[[str, dict[str, Any]], str | None]] = {}


def detail_plot(check_id: str) -> Callable[[Callable[[str, dict[str, Any]], str | None]],
                                           Callable[[str, dict[str, Any]], str | None]]:
    def register(fn: Callable[[str, dict[str, Any]], str | None]) -> Callable[[str, dict[str, Any]], str | None]:
        DETAIL_PLOTS[check_id] = fn
        return fn

    return register
