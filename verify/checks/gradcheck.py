"""`gradcheck`: the backward against central finite differences, in float64."""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.gradcheck import GradcheckError

from verify import tolerances as tol
from verify.checks._grad import first_line, sample_strategy, settings_label, worst_elementwise
from verify.checks.base import Context, Outcome, check, failed, passed
from verify.strategies import falsify, to_tensor
from verify.subject import Subject


@check("gradcheck")
def check_gradcheck(subject: Subject, ctx: Context) -> Outcome:
    """float64 gradcheck with respect to the input, at drawn points away from kinks."""
    settings = subject.param_settings()
    for params in settings:
        fn = subject.instance(torch.float64, ctx.device, params)

        def prop(a: object, fn: Any = fn) -> str | None:
            x = to_tensor(a, torch.float64, ctx.device).requires_grad_()
            try:
                torch.autograd.gradcheck(
                    fn, (x,), eps=tol.GRADCHECK_EPS, atol=tol.GRADCHECK_ATOL, rtol=tol.GRADCHECK_RTOL,
                    check_undefined_grad=False, fast_mode=True,
                )
            except GradcheckError as exc:
                return first_line(exc)
            return None

        found = falsify(sample_strategy(subject, params), prop, ctx.profile)
        if found is not None:
            example, reason = found
            x = to_tensor(example, torch.float64, ctx.device)
            worst = worst_elementwise(fn, x)
            return failed(
                f"backward disagrees with finite differences at x={worst['x']:.6g} "
                f"({settings_label(params)}): autograd {worst['analytical']:.6g}, numerical {worst['numerical']:.6g}",
                details={"params": params, "reason": reason, **worst},
                smallest_input=example,
            )
    return passed(f"backward matches finite differences (float64, {len(settings)} parameter setting(s))",
                  details={"settings": settings})
