"""`gradgradcheck`: the second derivative, through the backward itself, in float64."""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.gradcheck import GradcheckError

from verify import tolerances as tol
from verify.checks._grad import first_line, sample_strategy, settings_label
from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.strategies import falsify, to_tensor
from verify.subject import Subject

ONCE_DIFFERENTIABLE = "marked with @once_differentiable"


@check("gradgradcheck")
def check_gradgradcheck(subject: Subject, ctx: Context) -> Outcome:
    """float64 gradgradcheck: a backward built from detached tensors fails here."""
    if subject.once_differentiable:
        return skipped("the backward is marked once_differentiable: it has no second derivative by design")
    settings = subject.param_settings()
    for params in settings:
        fn = subject.instance(torch.float64, ctx.device, params)

        def prop(a: object, fn: Any = fn) -> str | None:
            x = to_tensor(a, torch.float64, ctx.device).requires_grad_()
            try:
                torch.autograd.gradgradcheck(
                    fn, (x,), eps=tol.GRADCHECK_EPS, atol=tol.GRADCHECK_ATOL, rtol=tol.GRADCHECK_RTOL,
                    check_undefined_grad=False, fast_mode=True,
                )
            except GradcheckError as exc:
                return first_line(exc)
            except RuntimeError as exc:
                if ONCE_DIFFERENTIABLE in str(exc) or "once_differentiable" in str(exc):
                    raise _OnceDifferentiable() from exc
                # A backward whose result does not require grad (computed under
                # no_grad, or from .data) cannot be differentiated: the silent bug.
                return f"the backward cannot be differentiated: {first_line(exc)}"
            return None

        try:
            found = falsify(sample_strategy(subject, params, second_order=True), prop, ctx.profile)
        except _OnceDifferentiable:
            return skipped("the backward is marked once_differentiable: it has no second derivative by design")
        if found is not None:
            example, reason = found
            return failed(
                f"second derivative wrong ({settings_label(params)}): {reason}",
                details={"params": params, "reason": reason},
                smallest_input=example,
            )
    return passed(f"second derivatives match finite differences of the backward (float64, {len(settings)} setting(s))")


class _OnceDifferentiable(Exception):
    pass
