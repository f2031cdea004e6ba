"""`gradgradcheck`: the second derivative, through the backward itself, in float64."""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.gradcheck import GradcheckError

from verify.checks._grad import (
    CUT_FROM_GRAPH,
    first_line,
    jump_findings,
    located,
    search_off_jumps,
    settings_label,
    steps,
)
from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.subject import Subject

ONCE_DIFFERENTIABLE = "once_differentiable"
SKIP_REASON = "the backward is marked once_differentiable: it has no second derivative by design"
# What torch says when one of its own backward kernels has no derivative (torch 2.13's
# hardsigmoid_backward): torch's limit, not the subject's defect.
NOT_IMPLEMENTED = "is not implemented"
# The usual cause of an f'' of 0 where the differences of the backward are not, and its fixes.
CONSTANT_IN_BACKWARD = (
    "the backward uses a tensor without a graph as a constant (a forward intermediate saved with "
    "ctx.save_for_backward, computed under no_grad or detached): recompute it in the backward from the saved "
    "inputs, or mark the backward @once_differentiable if it is not meant to be differentiated"
)


class _OnceDifferentiable(Exception):
    pass


def _judge(fn: Any, x: torch.Tensor, eps: float, atol: float, rtol: float) -> str | None:
    try:
        torch.autograd.gradgradcheck(fn, (x,), eps=eps, atol=atol, rtol=rtol, check_undefined_grad=False,
                                     fast_mode=True)
    except GradcheckError as exc:
        return first_line(exc)
    except RuntimeError as exc:
        if ONCE_DIFFERENTIABLE in str(exc):
            raise _OnceDifferentiable(SKIP_REASON) from exc
        if NOT_IMPLEMENTED in str(exc) and "derivative for" in str(exc):
            raise _OnceDifferentiable(f"torch has no second derivative here: {first_line(exc)}") from exc
        # A backward whose result does not require grad (computed under no_grad, or
        # from .data) cannot be differentiated: the silent bug.
        return f"the backward cannot be differentiated: {first_line(exc)}"
    return None


@check("gradgradcheck", cost_s=0.2)
def check_gradgradcheck(subject: Subject, ctx: Context) -> Outcome:
    """float64 gradgradcheck: a backward built from detached tensors fails here."""
    if subject.once_differentiable:
        return skipped(SKIP_REASON)
    try:
        found, _, jumps = search_off_jumps(subject, ctx, _judge, mode="second")
    except _OnceDifferentiable as exc:
        return skipped(str(exc))
    findings = jump_findings(jumps, steps(subject, ctx)["eps"], of="the backward")
    if found is not None:
        params, example, reason = found
        if reason == CUT_FROM_GRAPH:
            return failed(f"{reason} ({settings_label(params)})", details={"params": params, "reason": reason},
                          smallest_input=example)
        where, numbers = located(subject, ctx, params, example, "second")
        summary = f"second derivative wrong{where} ({settings_label(params)})" + ("" if where else f": {reason}")
        if numbers.get("analytical") == 0.0 and numbers.get("numerical", 0.0) != 0.0:
            summary += f": {CONSTANT_IN_BACKWARD}"
        return failed(summary, details={"params": params, "reason": reason, **numbers}, smallest_input=example,
                      findings=findings)
    return passed("second derivatives match finite differences of the backward "
                  f"(float64, {len(subject.param_settings(ctx.profile))} setting(s))", findings=findings)
