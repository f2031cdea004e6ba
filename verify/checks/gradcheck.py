"""`gradcheck`: the backward against central finite differences, in float64.

Drawn inputs (hypothesis, |x| <= 8, away from kinks) are judged by torch's gradcheck;
then, elementwise, log-spaced magnitudes out to the required range (both signs, every
channel, every parameter setting) against central differences with steps scaled to
|x| (see ``GRADIENT_FAR_*`` in :mod:`verify.tolerances`): a backward right near 0 and
wrong (or cut to 0) for large |x| fails there.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.autograd.gradcheck import GradcheckError

from verify import tolerances as tol
from verify.analysis.kinkscan import Evaluator
from verify.analysis.kinkscan import kinks as kinks_of
from verify.analysis.precision import finding as precision_finding
from verify.analysis.precision import resolution
from verify.checks._grad import (
    CUT_FROM_GRAPH,
    entry_phrase,
    first_line,
    jump_findings,
    search_off_jumps,
    settings_label,
    steps,
    worst_elementwise,
)
from verify.checks.base import Context, Outcome, check, failed, passed
from verify.halves import HalfView, views
from verify.strategies import _inside, to_tensor
from verify.subject import Subject


def _judge(fn: Any, x: torch.Tensor, eps: float, atol: float, rtol: float) -> str | None:
    try:
        torch.autograd.gradcheck(fn, (x,), eps=eps, atol=atol, rtol=rtol, check_undefined_grad=False, fast_mode=True)
    except GradcheckError as exc:
        return first_line(exc)
    return None


# A subject's first check: it draws the inputs and scans for the kinks the others reuse.
@check("gradcheck", cost_s=0.2)
def check_gradcheck(subject: Subject, ctx: Context) -> Outcome:
    """float64 gradcheck with respect to the input, at drawn points away from kinks, at
    the resolution the subject computes float64 inputs at (reported here: this check owns
    the finite differences that a narrower resolution defeats)."""
    settings = subject.param_settings(ctx.profile)
    found, worst, jumps = search_off_jumps(subject, ctx, _judge)
    if found is not None and found[2] == CUT_FROM_GRAPH:
        params, example, reason = found
        return failed(f"{reason} ({settings_label(params)})", details={"params": params, "reason": reason},
                      smallest_input=example)
    if found is not None:
        params, example, reason = found
        if worst is None:
            fn = subject.instance(torch.float64, ctx.device, params)
            h = steps(subject, ctx, params)["eps"]
            worst = worst_elementwise(fn, to_tensor(example, torch.float64, ctx.device), eps=h,
                                      kind=subject.layout.kind)
    at = resolution(subject, None, ctx.device)
    findings = [line for line in (precision_finding(at),) if line]
    findings += jump_findings(jumps, steps(subject, ctx)["eps"])
    findings += domain_findings(subject, ctx)
    if found is not None:
        assert worst is not None
        return failed(
            f"backward disagrees with finite differences at x={worst['x']:.6g}{entry_phrase(worst)} "
            f"({settings_label(params)}): autograd {worst['analytical']:.6g}, numerical {worst['numerical']:.6g}",
            details={"params": params, "reason": reason, **worst},
            smallest_input=example, findings=findings,
        )
    required = required_range(subject, ctx)
    # A gated subject is judged far from 0 one half at a time, the other held at 1.
    lines = [subject] if subject.not_positionwise is None else views(subject)
    for line in lines:
        var, held = (line.variable, f" ({line.held_text})") if isinstance(line, HalfView) else ("x", "")
        for params in settings:
            far = far_from_zero(line, ctx, params, required)
            if far is not None:
                return failed(
                    f"backward disagrees with finite differences far from 0, at {var}={far['x']:.6g}{held} "
                    f"({settings_label(params)}): autograd {far['analytical']:.6g}, numerical "
                    f"{far['numerical']:.6g} (step {far['step']:.3g})",
                    details={"params": params, "region": "far from 0", "variable": var + held, **far},
                    smallest_input=[far["x"]], findings=findings,
                )
    if not lines:
        return passed(f"backward matches finite differences ({_label(at)}, {len(settings)} parameter setting(s))",
                      details={"settings": settings, "far_range": None}, findings=findings)
    return passed(f"backward matches finite differences ({_label(at)}, {len(settings)} parameter setting(s); "
                  f"|x| up to {required:g} elementwise)", details={"settings": settings, "far_range": required},
                  findings=findings)


def _label(at: torch.dtype) -> str:
    """How the verdict was reached: in float64, or at a narrower resolution."""
    return "float64" if at == torch.float64 else f"float64 at {str(at).removeprefix('torch.')}'s resolution"


# How close to an inferred domain's edge the backward is compared with f's slope.
EDGE_OFFSETS = (1e-3, 1e-6, 1e-9)


def domain_findings(subject: Subject, ctx: Context) -> list[str]:
    """For a subject with no spec whose float64 values are NaN on a whole half-line
    (sqrt, log: :func:`verify.layout.infer_domain`): that domain, which the checks stay
    inside, and, near its edge, where autograd's f' differs from f's one-sided slope (a
    backward clipped there on purpose, or a bug the drawn inputs do not reach)."""
    if subject.spec is not None or subject.not_positionwise is not None:
        return []
    lo, hi = subject.domain()
    if math.isfinite(lo) == math.isfinite(hi):
        return []
    edge, side = (lo, 1.0) if math.isfinite(lo) else (hi, -1.0)
    found = [f"f is NaN in float64 on the whole half-line {'below' if side > 0 else 'above'} {edge:g}: its domain is "
             f"{'[' + format(edge, 'g') + ', inf)' if side > 0 else '(-inf, ' + format(edge, 'g') + ']'}, and the "
             "checks stay inside it"]
    f = Evaluator(subject, None, device=ctx.device)
    xs = np.array([edge + side * d * max(1.0, abs(edge)) for d in EDGE_OFFSETS])
    h = 1e-4 * (xs - edge) * side
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        _, g = f.both(xs)
        slope = (f(xs + h) - f(xs)) / h
        off = np.abs(g - slope) > 0.1 * np.abs(slope) + 1e-6
    if np.any(off & np.isfinite(slope)):
        c, i = np.argwhere(off & np.isfinite(slope))[0]
        found.append(f"near its domain's edge {edge:g} the backward differs from f's slope: at x={xs[i]:.3g} autograd "
                     f"{g[c, i]:.6g}, numerical {slope[c, i]:.6g} (a backward clipped there on purpose, or a bug)")
    return found


def required_range(subject: Subject, ctx: Context) -> float:
    """|x| up to which gradients must be right: `stability`'s required range."""
    default = subject.spec.properties.stable_range if subject.spec is not None else tol.STABLE_RANGE
    return float(ctx.options.get("stability", {}).get("required_range", default))


def far_from_zero(subject: Subject, ctx: Context, params: dict[str, float] | None,
                  required: float) -> dict[str, Any] | None:
    """The worst point, beyond the drawn inputs, where autograd's f' and central
    differences disagree (None: none), with both values and the step."""
    per = tol.GRADIENT_FAR_POINTS_PER_DECADE
    lo_mag = tol.GRADIENT_FAR_MIN_ABS
    if required <= lo_mag:
        return None
    mags = np.logspace(math.log10(lo_mag), math.log10(required), round(math.log10(required / lo_mag) * per) + 1)
    lo, hi = _inside(*subject.domain(params))
    xs = np.concatenate([-mags[::-1], mags])
    xs = xs[(xs > lo) & (xs < hi)]
    kinks = np.asarray(kinks_of(subject, params), dtype=np.float64)
    if kinks.size:
        margin = tol.KINK_MARGIN_AT[resolution(subject, params, ctx.device)] * np.maximum(1.0, np.abs(xs))
        xs = xs[np.all(np.abs(xs[:, None] - kinks[None, :]) > margin[:, None], axis=1)]
    if xs.size == 0:
        return None
    f = Evaluator(subject, params, device=ctx.device)
    at = resolution(subject, params, ctx.device)
    h = tol.GRADIENT_FAR_STEP_AT[at] * np.abs(xs)
    y, g = f.both(xs)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf where f overflows: stability's business
        d1 = (f(xs + h) - f(xs - h)) / (2 * h)
        d2 = (f(xs + h / 2) - f(xs - h / 2)) / h
        richardson = (4 * d2 - d1) / 3
        rounding = 16 * tol.EPS[at] * np.abs(y) / h
        allowed = (tol.GRADCHECK_ATOL_AT[at] + tol.GRADCHECK_RTOL_AT[at] * np.abs(richardson)
                   + tol.GRADIENT_FAR_ERROR_FACTOR * np.abs(d2 - d1) + rounding)
        excess = np.abs(g - richardson) - allowed
    # Non-finite values are `stability`'s business.
    excess = np.where(np.isfinite(excess) & np.isfinite(y) & np.isfinite(g), excess, -np.inf)
    if not np.any(excess > 0):
        return None
    c, i = np.unravel_index(int(np.argmax(np.where(excess > 0, -np.abs(xs)[None, :], -np.inf))), excess.shape)
    return {"x": float(xs[i]), "channel": int(c), "analytical": float(g[c, i]), "numerical": float(richardson[c, i]),
            "step": float(h[i])}
