"""What the report sets side by side: one row of numbers per activation, read from its
checks' details (and the bench's rows), and the family each activation is drawn with."""

from __future__ import annotations

import json
import math
from typing import Any

from verify.report.figures import num

# A details value longer than this (as JSON) is a curve or a table the plots show; the
# page keeps a note of it, results.json the data.
DETAILS_VALUE_CHARS = 600


def family(info: dict[str, Any]) -> str:
    """A family by the shape a spec declares: what the function does at -inf and how
    smooth it is. A subject without a spec is drawn with the others without one."""
    spec = info.get("spec")
    if not spec:
        return "without a spec"
    props = spec["properties"]
    low, high = (num(b) if b is not None else math.nan for b in props["bounds"])
    neg_limit = num(props["limits"][0])
    if math.isfinite(low) and math.isfinite(high):
        return "bounded"
    if props["smoothness"] == "C0":
        return "piecewise linear"
    if neg_limit == 0:
        return "gated (0 at -inf)"
    if math.isfinite(neg_limit):
        return "saturating below"
    return "unbounded"


def numbers(checks: dict[str, dict[str, Any]], bench: list[dict[str, Any]] | None) -> dict[str, str]:
    """Short, comparable figures, each '' where its check did not run or had none."""
    row: dict[str, str] = {}
    kinks = checks.get("kinks", {}).get("details", {}).get("kinks")
    if kinks is not None:
        seen = dict.fromkeys(f"{num(k['x']):.3g} ({k.get('smoothness', '?')})" for k in kinks)
        row["kinks"] = ", ".join(list(seen)[:3]) + (" ..." if len(seen) > 3 else "") if seen else "none"
    stability = checks.get("stability", {}).get("details", {}).get("dtypes", {})
    for dt, rec in stability.items():
        breaks = [abs(num(rec[k])) for k in ("first_break_pos", "first_break_neg") if rec.get(k) is not None]
        row[f"finite to |x| ({dt})"] = f"{min(breaks):.3g}" if breaks else "whole range"
    prop = checks.get("propagation", {}).get("details", {})
    if "chi1_kaiming" in prop:
        row["chi_1 at Kaiming"] = f"{num(prop['chi1_kaiming']):.4g}"
    if prop.get("critical_sigma_w2") is not None:
        row["critical sigma_w^2"] = f"{num(prop['critical_sigma_w2']):.4g}"
    dead = checks.get("saturation", {}).get("details", {}).get("dtypes", {}).get("float32", {}).get("dead_fraction")
    if isinstance(dead, dict) and "1" in dead:
        row["dead fraction, N(0, 1)"] = f"{num(dead['1']):.3g}"
    memory = checks.get("memory", {}).get("details", {})
    if "saved_bytes_per_element" in memory:
        row["saved B/element (training)"] = f"{num(memory['saved_bytes_per_element']):g}"
    ratios = sorted((r["size"], r["ratio_to_builtin"]) for r in bench or []
                    if r.get("variant") == "eager" and r.get("mode") == "forward_backward"
                    and r.get("dtype") == "float32" and r.get("ratio_to_builtin") is not None)
    if ratios:
        row["fwd+bwd / built-in"] = f"{ratios[-1][1]:.2f}x at 2^{int(math.log2(ratios[-1][0]))}"
    return row


def shown_details(details: dict[str, Any]) -> str:
    """The details as the page shows them: long arrays replaced by a note."""
    def shorten(v: Any) -> Any:
        text = json.dumps(v)
        if len(text) <= DETAILS_VALUE_CHARS:
            return v
        if isinstance(v, dict):
            return {k: shorten(x) for k, x in v.items()}
        return f"({len(text)} characters: see results.json)"

    return json.dumps({k: shorten(v) for k, v in details.items()}, indent=1)
