"""What the report sets side by side: one row of numbers per activation, read from its
checks' details (and the bench's rows), and the family each activation is drawn with."""

from __future__ import annotations

import json
import math
import re
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
        row["kinks"] = ", ".join(seen) if seen else "none"
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


def slug(name: str, taken: set[str]) -> str:
    """An anchor from an activation's name: lower case, letters, digits and dashes,
    made unique among ``taken`` (which it joins) with a number."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "activation"
    out, i = base, 2
    while out in taken:
        out, i = f"{base}-{i}", i + 1
    taken.add(out)
    return out


def reference_errors(details: dict[str, Any]) -> list[str]:
    """Each comparison of the ``reference`` check: its worst error and the tolerance
    that element was held to."""
    lines = []
    for label, worst in details.get("worst", {}).items():
        parts = []
        for what in ("output", "gradient"):
            rec = worst.get(what)
            if not rec:
                continue
            allowed = rec.get("allowed_error")
            parts.append(f"{what} error {num(rec['abs_error']):.3g}"
                         + (f" (allowed {num(allowed):.3g})" if allowed is not None else " (tolerance not recorded)")
                         + (f" at x = {num(rec['x']):.6g}" if rec.get("x") is not None else ""))
        if parts:
            lines.append(f"{label}: " + "; ".join(parts))
    return lines


# A built-in measured above the bandwidth line by more than this fraction means the line
# (measured alone, a moment earlier) is not what the machine gave the timings.
BANDWIDTH_MARGIN = 0.1


def timing_warnings(bench: dict[str, Any]) -> list[str]:
    """Why the bench's figures should not be trusted, if they should not: timings whose
    spread stayed beyond the run's stated noise bound, and built-ins measured faster than
    the bandwidth line allows (the machine was busier when the line was measured)."""
    if not bench:
        return []
    out = []
    bound = bench.get("environment", {}).get("noise_bound")
    rows = [r for s in bench.get("subjects", []) for r in s.get("rows", []) if "median_s" in r]
    if bound is not None:
        noisy = [r for r in rows if r["median_s"] > 0 and r.get("iqr_s", 0) / r["median_s"] > bound]
        if noisy:
            worst = max(noisy, key=lambda r: r["iqr_s"] / r["median_s"])
            out.append(f"{len(noisy)} of {len(rows)} timings kept a spread (IQR) beyond {bound:.0%} of their median, "
                       f"the most {worst['iqr_s'] / worst['median_s']:.0%} ({worst['subject']} {worst['variant']} "
                       f"{worst['mode'].replace('_', '+')} at 2^{int(math.log2(worst['size']))}): the machine was "
                       "busy; compare figures from a quiet run")
    fast = [r for r in rows if r.get("variant") == "builtin"
            and r.get("fraction_of_bandwidth", 0) > 1 + BANDWIDTH_MARGIN]
    if fast:
        worst = max(fast, key=lambda r: r["fraction_of_bandwidth"])
        out.append(f"{len(fast)} built-in timing(s) beat the bandwidth line, the most by "
                   f"{worst['fraction_of_bandwidth']:.2f}x ({worst['subject']} {worst['mode'].replace('_', '+')} "
                   f"at 2^{int(math.log2(worst['size']))}, {worst['dtype']}): the line was measured while the machine "
                   "was busier, so every fraction of bandwidth on this page is too high")
    return out
