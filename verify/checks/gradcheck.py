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
from verify.checks._grad import first_line, search_settings, settings_label, worst_elementwise
from verify.checks.base import Context, Outcome, check, failed, passed
from verify.kinkscan import Evaluator
from verify.strategies import _inside, to_tensor
from verify.subject import Subject


def _judge(fn: Any, x: torch.Tensor) -> str | None:
    try:
        torch.autograd.gradcheck(fn, (x,), eps=tol.GRADCHECK_EPS, atol=tol.GRADCHECK_ATOL, rtol=tol.GRADCHECK_RTOL,
                                 check_undefined_grad=False, fast_mode=True)
    except GradcheckError as exc:
        return first_line(exc)
    return None


@check("gradcheck")
def check_gradcheck(subject: Subject, ctx: Context) -> Outcome:
    """float64 gradcheck with respect to the input, at drawn points away from kinks."""
    found = search_settings(subject, ctx, _judge)
    settings = subject.param_settings(ctx.profile)
    if found is not None:
        params, example, reason = found
        fn = subject.instance(torch.float64, ctx.device, params)
        worst = worst_elementwise(fn, to_tensor(example, torch.float64, ctx.device))
        of_sum = "" if subject.not_positionwise is None else " (of the sum of the outputs)"
        return failed(
            f"backward{of_sum} disagrees with finite differences at x={worst['x']:.6g} "
            f"({settings_label(params)}): autograd {worst['analytical']:.6g}, numerical {worst['numerical']:.6g}",
            details={"params": params, "reason": reason, **worst},
            smallest_input=example,
        )
    required = required_range(subject, ctx)
    for params in settings if subject.not_positionwise is None else ():
        far = far_from_zero(subject, ctx, params, required)
        if far is not None:
            return failed(
                f"backward disagrees with finite differences far from 0, at x={far['x']:.6g} "
                f"({settings_label(params)}): autograd {far['analytical']:.6g}, numerical {far['numerical']:.6g} "
                f"(step {far['step']:.3g})",
                details={"params": params, "region": "far from 0", **far},
                smallest_input=[far["x"]],
            )
    if subject.not_positionwise is not None:
        return passed(f"backward matches finite differences (float64, {len(settings)} parameter setting(s))",
                      details={"settings": settings, "far_range": None})
    return passed(f"backward matches finite differences (float64, {len(settings)} parameter setting(s); "
                  f"|x| up to {required:g} elementwise)", details={"settings": settings, "far_range": required})


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
    kinks = np.asarray(subject.kinks(params), dtype=np.float64)
    if kinks.size:
        margin = tol.KINK_MARGIN * np.maximum(1.0, np.abs(xs))
        xs = xs[np.all(np.abs(xs[:, None] - kinks[None, :]) > margin[:, None], axis=1)]
    if xs.size == 0:
        return None
    f = Evaluator(subject, params, device=ctx.device)
    h = tol.GRADIENT_FAR_STEP * np.abs(xs)
    y, g = f.both(xs)
    d1 = (f(xs + h) - f(xs - h)) / (2 * h)
    d2 = (f(xs + h / 2) - f(xs - h / 2)) / h
    richardson = (4 * d2 - d1) / 3
    rounding = 16 * np.finfo(np.float64).eps * np.abs(y) / h
    allowed = (tol.GRADCHECK_ATOL + tol.GRADCHECK_RTOL * np.abs(richardson)
               + tol.GRADIENT_FAR_ERROR_FACTOR * np.abs(d2 - d1) + rounding)
    with np.errstate(invalid="ignore"):
        excess = np.abs(g - richardson) - allowed
    # Non-finite values are `stability`'s business.
    excess = np.where(np.isfinite(excess) & np.isfinite(y) & np.isfinite(g), excess, -np.inf)
    if not np.any(excess > 0):
        return None
    c, i = np.unravel_index(int(np.argmax(np.where(excess > 0, -np.abs(xs)[None, :], -np.inf))), excess.shape)
    return {"x": float(xs[i]), "channel": int(c), "analytical": float(g[c, i]), "numerical": float(richardson[c, i]),
            "step": float(h[i])}
