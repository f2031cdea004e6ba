"""`gradcheck`: the backward against central finite differences, in float64."""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.gradcheck import GradcheckError

from verify import tolerances as tol
from verify.checks._grad import first_line, search_settings, settings_label, worst_elementwise
from verify.checks.base import Context, Outcome, check, failed, passed
from verify.strategies import to_tensor
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
    settings = subject.param_settings()
    if found is not None:
        params, example, reason = found
        fn = subject.instance(torch.float64, ctx.device, params)
        worst = worst_elementwise(fn, to_tensor(example, torch.float64, ctx.device))
        return failed(
            f"backward disagrees with finite differences at x={worst['x']:.6g} "
            f"({settings_label(params)}): autograd {worst['analytical']:.6g}, numerical {worst['numerical']:.6g}",
            details={"params": params, "reason": reason, **worst},
            smallest_input=example,
        )
    return passed(f"backward matches finite differences (float64, {len(settings)} parameter setting(s))",
                  details={"settings": settings})
