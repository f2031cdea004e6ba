"""`kinks`: what happens exactly at the points where f is not smooth.

Gradient checks draw random points and never land on a kink, where ReLU'(0), a NaN
from sqrt at 0 or a hidden jump live. This check finds every kink, declared or not,
with :mod:`verify.analysis.kinkscan` (f and f' scanned in float64 on every channel, each point
localised to about 1e-12), at every parameter setting the spec names, and judges each:

* continuity: f is continuous there unless the spec declares a jump;
* the one-sided derivatives d- and d+, Richardson-extrapolated one-sided differences
  of f (never autograd: its gradient is what is judged);
* autograd's gradient at the kink is finite and inside the Clarke subdifferential
  [min(d-, d+), max(d-, d+)], in float64 and in every low-precision dtype, and which
  convention it takes (left, right, midpoint, zero, other) against the spec's built-in;
* the smoothness class there: C0 (the slope jumps), C1 (f'' jumps: ELU with alpha = 1
  at 0), C2 (f''' jumps), from one-sided derivatives of autograd's f'.

Metadata must be true for a registered activation (one with a spec): a kink or jump
that the spec does not declare fails, and so does a declared one that is not there at
the default parameters (at an edge value it may degenerate: PReLU with weight 1 has no
kink, and that is a finding). A spec that declares a smoother class than found (a C1
point under ``Smoothness.SMOOTH``) fails. Without a spec nothing is declared: kinks are
reported, and only what is wrong at them fails (a jump visible in float32, a gradient
outside the subdifferential or not finite).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from acts.spec import Smoothness
from verify import tolerances as tol
from verify.analysis.kinkscan import (
    Evaluator,
    differs,
    find_points,
    grid,
    is_jump,
    merge,
    nonfinite_runs,
    one_sided,
    scan_range,
)
from verify.checks._grad import formula_with_params, settings_label
from verify.checks._halves import by_halves
from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.subject import Subject

# Smoothness classes from worst to best; a point judged "smooth" is no point at all.
CLASSES = ("discontinuous", "C0", "C1", "C2", "smooth")
DECLARED_RANK = {Smoothness.C0: 1, Smoothness.C1: 2, Smoothness.C2: 3, Smoothness.SMOOTH: 4}
# Points of f drawn per kink for the report's plot (default parameters only).
PLOT_SAMPLES = 41


@dataclass
class Verdict:
    problems: list[tuple[str, float]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


@check("kinks")
def check_kinks(subject: Subject, ctx: Context) -> Outcome:
    """Kinks found and judged: continuity, d- and d+, autograd's gradient in the subdifferential per dtype."""
    if subject.layout.kind == "gated":
        return by_halves(check_kinks, subject, ctx)
    if subject.not_positionwise is not None:
        return skipped(subject.not_positionwise)
    if subject.spec is not None and not subject.spec.elementwise:
        return skipped("kinks are looked for in elementwise activations; the spec declares this one is not")
    verdict = Verdict()
    entries: list[dict[str, Any]] = []
    scans: list[dict[str, Any]] = []
    settings = subject.param_settings(ctx.profile)
    failing: dict[str, float] | None = None  # the parameters of the first problem
    for i, params in enumerate(settings):
        before = len(verdict.problems)
        found, scan = _judge_setting(subject, params, ctx, verdict, default=i == 0)
        if before == 0 and verdict.problems:
            failing = params
        entries += found
        scans.append(scan)
    dtypes = ["float64", *[_name(d) for d in ctx.dtypes if d != torch.float64]]
    details = {"kinks": entries, "scans": scans, "dtypes": dtypes}
    if verdict.problems:
        message, x = verdict.problems[0]
        more = f" (and {len(verdict.problems) - 1} more)" if len(verdict.problems) > 1 else ""
        details["problems"] = [m for m, _ in verdict.problems]
        details["params"] = failing
        return failed(message + more, details=details, smallest_input=[x], findings=verdict.findings)
    return passed(_summary(subject, entries, dtypes, settings), details=details, findings=verdict.findings)


def _judge_setting(subject: Subject, params: dict[str, float] | None, ctx: Context, verdict: Verdict,
                   default: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    spec = subject.spec
    label = "" if params is None or default else f" ({settings_label(params)})"
    f = Evaluator(subject, params, device=ctx.device)
    df = Evaluator(subject, params, derivative=True, device=ctx.device)
    lo, hi = scan_range(subject, params)
    xs = grid(lo, hi, channels=f.channels)
    rows, drows = df.both(xs)
    # Spread over the channels, one row stands for all of them (see Evaluator).
    groups = [(0, list(range(f.lanes)))] if f.spread else _channel_groups(rows, drows)
    for what, r in (("f", rows), ("autograd's f'", drows)):
        for a, b in nonfinite_runs(xs, r):
            verdict.findings.append(f"{what} is not finite on [{a:.6g}, {b:.6g}]{label}: an overflow or a "
                                    "region outside the domain, which the stability check judges, not a kink")

    declared: dict[float, bool] = {}
    if spec is not None:
        values = {**spec.defaults(), **(params or {})}
        for k in spec.kinks:
            at = k.locate(values)
            declared[at] = declared.get(at, False) or k.jump
    located: dict[float, float] = {}
    of_f = find_points(f, xs, rows)
    # Kinks of f are jumps of f': no need to localise them twice.
    of_df = find_points(df, xs, drows, known=[*declared, *(p.x for p in of_f)])
    for p in of_f + of_df:
        match = next((d for d in [*declared, *located] if abs(d - p.x) <= tol.KINK_MATCH), None)
        if match is None:
            located[p.x] = p.located
        elif match not in located or abs(p.located - match) < abs(located[match] - match):
            located[match] = p.located
    points = merge([*declared, *located])
    scan = {"params": params, "range": [lo, hi], "grid_step": float(xs[1] - xs[0]) if xs.size > 1 else None,
            "channel_groups": [g for _, g in groups], "points_examined": points}
    if not points:
        _judge_smoothness(subject, [], verdict, default, label, lo, hi)
        return [], scan

    offsets = np.array([x - located.get(x, x) for x in points])
    m = _measure(subject, params, ctx, f, df, points, offsets, [rep for rep, _ in groups])
    entries: list[dict[str, Any]] = []
    for gi, (_, channels) in enumerate(groups):
        for pi, x in enumerate(points):
            e: dict[str, Any] = {key: (v[gi, pi] if isinstance(v, np.ndarray) else
                                       {d: a[gi, pi] for d, a in v.items()}) for key, v in m.items()}
            is_declared = x in declared
            if e["smoothness"] == "smooth" and math.isfinite(e["grad64"]) and math.isfinite(e["value"]) \
                    and not is_declared:
                continue
            entry = _entry(x, located.get(x), params, channels, e, is_declared, declared.get(x, False),
                           spec is not None and spec.builtin is not None)
            entries.append(entry)
    # A declared point is judged once over all channel groups: present if any shows it.
    by_x: dict[float, list[dict[str, Any]]] = {}
    for entry in entries:
        by_x.setdefault(entry["x"], []).append(entry)
    for x, group_entries in by_x.items():
        _judge_point(subject, x, group_entries, verdict, default, label)
    _judge_smoothness(subject, entries, verdict, default, label, lo, hi)
    if default:
        _add_samples(f, entries, points, lo, hi)
    return entries, scan


def _channel_groups(rows: np.ndarray, drows: np.ndarray) -> list[tuple[int, list[int]]]:
    """Channels with the same f and f' on the grid, as (first channel, all of them)."""
    groups: dict[bytes, list[int]] = {}
    for c in range(rows.shape[0]):
        groups.setdefault(rows[c].tobytes() + drows[c].tobytes(), []).append(c)
    return [(g[0], g) for g in groups.values()]


def _measure(subject: Subject, params: dict[str, float] | None, ctx: Context, f: Evaluator, df: Evaluator,
             points: list[float], offsets: np.ndarray, reps: list[int]) -> dict[str, Any]:
    """Everything judged, as (group, point) arrays (per-dtype dicts of them for the
    gradient): one-sided values, slopes and higher derivatives, autograd's gradient.
    ``offsets``: how far each point is from where the scan located it (a snapped 0
    against 3e-12); the tolerances allow for that and KINK_LOCATE_ERROR more."""
    x = np.broadcast_to(np.asarray(points, dtype=np.float64)[None, :], (len(reps), len(points))).copy()
    ch = np.broadcast_to(np.asarray(reps)[:, None], x.shape).copy()
    of, odf = one_sided(f, x, ch, (0, 1)), one_sided(df, x, ch, (1, 2))
    v, d, d2, d3 = of[0], of[1], odf[1], odf[2]
    jump = v.right - v.left
    jumps = is_jump(v, d, offsets[None, :])
    slope = differs(d.left, d.right, d.left_err + d.right_err, tol.KINK_SLOPE_RTOL)
    second = differs(d2.left, d2.right, d2.left_err + d2.right_err, tol.KINK_SECOND_RTOL)
    third = differs(d3.left, d3.right, d3.left_err + d3.right_err, tol.KINK_THIRD_RTOL)
    smoothness = np.where(jumps, "discontinuous", np.where(slope, "C0", np.where(
        second, "C1", np.where(third, "C2", "smooth"))))
    lo_d, hi_d = np.minimum(d.left, d.right), np.maximum(d.left, d.right)
    scale = np.maximum(1.0, np.maximum(np.abs(d.left), np.abs(d.right)))
    curvature = np.nan_to_num(np.maximum(np.abs(d2.left), np.abs(d2.right)), nan=0.0, posinf=0.0)
    # autograd's gradient at a point this far off the kink is a one-sided f' there.
    allowed64 = tol.KINK_GRAD_RTOL * scale + tol.KINK_ERROR_FACTOR * (d.left_err + d.right_err) \
        + curvature * (np.abs(offsets)[None, :] + tol.KINK_LOCATE_ERROR)

    grads: dict[str, np.ndarray] = {}
    inside: dict[str, np.ndarray] = {}
    for dtype in (torch.float64, *[t for t in ctx.dtypes if t != torch.float64]):
        ev = df if dtype == torch.float64 else Evaluator(subject, params, derivative=True, dtype=dtype,
                                                         device=ctx.device)
        rounded = torch.as_tensor(x).to(dtype).double().numpy()
        g = ev.at(rounded, ch)
        allowed = allowed64 if dtype == torch.float64 else (
            tol.KINK_GRAD_ULPS * torch.finfo(dtype).eps * scale + curvature * np.abs(rounded - x))
        grads[_name(dtype)] = g
        with np.errstate(invalid="ignore"):
            inside[_name(dtype)] = np.isfinite(g) & (g >= lo_d - allowed) & (g <= hi_d + allowed)
    g64 = grads["float64"]
    out: dict[str, Any] = {
        "value": f.at(x, ch), "left_value": v.left, "right_value": v.right, "jump": jump, "is_jump": jumps,
        "left_derivative": d.left, "right_derivative": d.right, "slope": slope,
        "left_second_derivative": d2.left, "right_second_derivative": d2.right,
        "left_third_derivative": d3.left, "right_third_derivative": d3.right,
        "smoothness": smoothness, "grad64": g64, "grads": grads, "inside": inside,
        "convention": _convention(g64, d.left, d.right, slope, allowed64),
    }
    spec = subject.spec
    if spec is not None and spec.builtin is not None:
        builtin = formula_with_params(spec.builtin, subject.instance(torch.float64, ctx.device, params))
        bg = Evaluator(subject, params, derivative=True, device=ctx.device, fn=builtin).at(x, ch)
        out["builtin_grad"] = bg
        out["builtin_convention"] = _convention(bg, d.left, d.right, slope, allowed64)
        with np.errstate(invalid="ignore"):
            out["matches_builtin"] = (np.abs(g64 - bg) <= allowed64) | (g64 == bg)
    return out


def _convention(g: np.ndarray, left: np.ndarray, right: np.ndarray, slope: np.ndarray,
                allowed: np.ndarray) -> np.ndarray:
    """Which one-sided value autograd's gradient is: the first of left, right,
    midpoint, zero that it equals (within ``allowed``), else other; "none" where the
    slope does not change (a jump of the value alone, or a C1 point)."""
    with np.errstate(invalid="ignore"):
        near = [(np.abs(g - t) <= allowed) for t in (left, right, (left + right) / 2, np.zeros_like(g))]
    names = np.array(["left", "right", "midpoint", "zero", "other"])
    first = np.argmax(np.stack([*near, np.ones_like(near[0])]), axis=0)
    return np.where(slope, names[first], "none")


def _entry(x: float, located: float | None, params: dict[str, float] | None, channels: list[int],
           e: dict[str, Any], declared: bool, declared_jump: bool, has_builtin: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "x": x,
        "located": located,
        "params": params,
        "channels": channels,
        "declared": declared,
        "declared_jump": declared_jump,
        "value": float(e["value"]),
        "left_value": float(e["left_value"]),
        "right_value": float(e["right_value"]),
        "continuous": not bool(e["is_jump"]),
        "jump": float(e["jump"]),
        "left_derivative": float(e["left_derivative"]),
        "right_derivative": float(e["right_derivative"]),
        "left_second_derivative": float(e["left_second_derivative"]),
        "right_second_derivative": float(e["right_second_derivative"]),
        "smoothness": str(e["smoothness"]),
        "kink": bool(e["is_jump"] or e["slope"]),
        "grad_at_kink": {d: float(g) for d, g in e["grads"].items()},
        "inside_by_dtype": {d: bool(b) for d, b in e["inside"].items()},
        "inside_subdifferential": all(bool(b) for b in e["inside"].values()),
        "convention": str(e["convention"]),
    }
    if has_builtin:
        entry.update(builtin_grad=float(e["builtin_grad"]), builtin_convention=str(e["builtin_convention"]),
                     matches_builtin=bool(e["matches_builtin"]))
    return entry


def _judge_point(subject: Subject, x: float, entries: list[dict[str, Any]], verdict: Verdict, default: bool,
                 label: str) -> None:
    spec = subject.spec
    problems, findings = verdict.problems, verdict.findings
    declared, declared_jump = entries[0]["declared"], entries[0]["declared_jump"]
    where = f"x={x:.10g}{label}"
    present = any(e["kink"] or not math.isfinite(e["grad_at_kink"]["float64"]) for e in entries)
    if declared and not present:
        what = "jump" if declared_jump else "kink"
        text = (f"the spec declares a {what} at {where}, but f has neither a kink nor a jump there "
                f"(d- = d+ = {entries[0]['left_derivative']:.6g})")
        (problems.append((text, x)) if default else findings.append(text + ": it degenerates at this setting"))
    for e in entries:
        chans = "" if len(entries) == 1 else f" on channel(s) {e['channels']}"
        at = where + chans
        if not math.isfinite(e["value"]):
            problems.append((f"f({x:.10g}) is {e['value']}{chans}{label}", x))
        if not e["continuous"]:
            jump = abs(e["jump"])
            visible = jump >= 0.5 * torch.finfo(tol.KINK_JUMP_VISIBLE_DTYPE).eps * max(
                1.0, abs(e["left_value"]), abs(e["right_value"]))
            text = f"f jumps by {e['jump']:.3g} at {at} ({e['left_value']:.15g} -> {e['right_value']:.15g})"
            if spec is not None and not declared_jump:
                problems.append((text + (", declared as a kink, not a jump" if declared else
                                         ", and the spec declares no jump there"), x))
            elif spec is None and visible:
                problems.append((text + ": a hidden jump", x))
            elif spec is None:
                findings.append(text + f": below half a {_name(tol.KINK_JUMP_VISIBLE_DTYPE)} ulp of the value, "
                                f"harmless in training, but a float64 central difference (step {tol.GRADCHECK_EPS:g}) "
                                f"across it is off by {jump / (2 * tol.GRADCHECK_EPS):.1g}")
        elif declared_jump and e["kink"]:
            text = f"the spec declares a jump at {at}, but f is continuous there"
            (problems.append((text, x)) if default else findings.append(text))
        if e["kink"] and e["continuous"] and spec is not None and not declared:
            problems.append((f"undeclared kink at {at}: d- = {e['left_derivative']:.6g}, "
                             f"d+ = {e['right_derivative']:.6g}", x))
        for dtype, g in e["grad_at_kink"].items():
            if not math.isfinite(g):
                problems.append((f"autograd's gradient at {at} is {g} in {dtype}", x))
            elif not e["inside_by_dtype"][dtype] and e["kink"]:
                lo, hi = sorted((e["left_derivative"], e["right_derivative"]))
                problems.append((f"autograd's gradient at {at} is {g:.6g} in {dtype}, outside the "
                                 f"subdifferential [{lo:.6g}, {hi:.6g}]", x))
            elif not e["inside_by_dtype"][dtype]:
                problems.append((f"autograd's gradient at {at} is {g:.6g} in {dtype}, but f' is "
                                 f"{e['left_derivative']:.6g} on both sides", x))
        if e.get("matches_builtin") is False and e["kink"] and default:
            findings.append(f"at {at} autograd's gradient is {e['grad_at_kink']['float64']:.6g} ({e['convention']}), "
                            f"the built-in's {e['builtin_grad']:.6g} ({e['builtin_convention']})")


def _judge_smoothness(subject: Subject, entries: list[dict[str, Any]], verdict: Verdict, default: bool, label: str,
                      lo: float, hi: float) -> None:
    """The class the spec declares against the points found off its declared kinks."""
    spec = subject.spec
    if spec is None:
        return
    declared = DECLARED_RANK[spec.properties.smoothness]
    worst = min((CLASSES.index(e["smoothness"]) for e in entries if not e["declared"]), default=len(CLASSES) - 1)
    for e in entries:
        rank = CLASSES.index(e["smoothness"])
        if e["declared"] or rank >= declared or e["kink"]:
            continue  # kinks are judged against the declared kinks
        text = (f"f is {e['smoothness']} at x={e['x']:.10g}{label} (f'' {e['left_second_derivative']:.6g} | "
                f"{e['right_second_derivative']:.6g}), but the spec declares {spec.properties.smoothness.value}")
        (verdict.problems.append((text, e["x"])) if default and e["smoothness"] == "C1"
         else verdict.findings.append(text))
    has_kinks = any(e["kink"] for e in entries)
    # The scans look for jumps of f and f' (C0 and C1 points), not of f''.
    if default and declared <= CLASSES.index("C1") and worst > declared and not has_kinks:
        verdict.findings.append(f"the spec declares {spec.properties.smoothness.value}, but f is "
                                f"{CLASSES[declared + 1]} or smoother on [{lo:g}, {hi:g}]")


def _add_samples(f: Evaluator, entries: list[dict[str, Any]], points: list[float], lo: float, hi: float) -> None:
    """f around each kink, for the report's plot (which never re-runs the subject)."""
    for e in entries:
        others = [abs(p - e["x"]) for p in points if p != e["x"]]
        r = min(1.0, 0.45 * min(others, default=math.inf), e["x"] - lo, hi - e["x"])
        if not r > 0:
            continue
        t = np.linspace(e["x"] - r, e["x"] + r, PLOT_SAMPLES)
        e["samples"] = {"x": t.tolist(), "f": f.at(t, np.full(t.shape, e["channels"][0])).tolist()}


def _summary(subject: Subject, entries: list[dict[str, Any]], dtypes: list[str],
             settings: list[dict[str, float] | None]) -> str:
    at_default = [e for e in entries if e["params"] == settings[0]]
    kinks = [e for e in at_default if e["kink"]]
    parts = []
    if kinks:
        xs = sorted({e["x"] for e in kinks})
        what = "as declared" if subject.spec is not None else "no spec declares them"
        conventions = {x: sorted({e["convention"] for e in kinks if e["x"] == x} - {"none"}) for x in xs}
        taken = ", ".join(f"{' and '.join(c)} at {x:.6g}" for x, c in conventions.items() if c)
        parts.append(f"kinks at {', '.join(f'{x:.6g}' for x in xs)} ({what}); autograd's gradient there "
                     + (f"({taken}) " if taken else "") + "finite and inside the subdifferential in "
                     + ", ".join(dtypes))
        jumps = [e for e in kinks if not e["continuous"]]
        if jumps:
            parts.append("jump of " + ", ".join(f"{e['jump']:.3g} at {e['x']:.6g}" for e in jumps))
    else:
        parts.append("no kinks")
    for e in sorted((e for e in at_default if not e["kink"]), key=lambda e: e["x"]):
        nxt = CLASSES[CLASSES.index(e["smoothness"]) + 1]
        parts.append(f"{e['smoothness']} not {nxt} at x={e['x']:.6g} (f'' {e['left_second_derivative']:.3g} | "
                     f"{e['right_second_derivative']:.3g})")
    if len(settings) > 1:
        parts.append(f"{len(settings)} parameter settings")
    return "; ".join(parts)


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
