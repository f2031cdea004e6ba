"""`forward_ad`: forward-mode AD (jvp) against finite differences, in float64."""

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

# What torch says when forward AD is not available for a piece of the forward.
UNSUPPORTED = (
    "must implement the jvp function",
    "does not support forward AD",
    "not implemented for forward AD",
    "Trying to use forward AD with",
)


class _Unsupported(Exception):
    pass


def _judge(fn: Any, x: torch.Tensor, eps: float, atol: float, rtol: float) -> str | None:
    try:
        torch.autograd.gradcheck(fn, (x,), eps=eps, atol=atol, rtol=rtol, check_forward_ad=True,
                                 check_backward_ad=False, check_undefined_grad=False, check_batched_grad=False,
                                 fast_mode=True)
    except GradcheckError as exc:
        return first_line(exc)
    except (RuntimeError, NotImplementedError) as exc:
        if any(u in str(exc) for u in UNSUPPORTED):
            raise _Unsupported(first_line(exc)) from exc
        raise
    return None


# Most of its cost is torch's, once a process: forward mode's decompositions (0.2 s) and,
# at the first forward-mode torch.where, its compiler front end, dynamo (0.6 s).
@check("forward_ad", cost_s=0.9)
def check_forward_ad(subject: Subject, ctx: Context) -> Outcome:
    """Forward-mode AD against finite differences where it is supported."""
    if subject.has_custom_jvp is False:
        names = ", ".join(c.__name__ for c in subject.custom_functions)
        return skipped(f"forward-mode AD not supported: {names} defines no jvp")
    try:
        found, _, jumps = search_off_jumps(subject, ctx, _judge, mode="forward")
    except _Unsupported as exc:
        return skipped(f"forward-mode AD not supported: {exc}")
    findings = jump_findings(jumps, steps(subject, ctx)["eps"])
    if found is not None:
        params, example, reason = found
        if reason == CUT_FROM_GRAPH:
            return failed(f"{reason} ({settings_label(params)})", details={"params": params, "reason": reason},
                          smallest_input=example)
        where, numbers = located(subject, ctx, params, example, "forward")
        return failed(f"forward-mode derivative (jvp) wrong{where} ({settings_label(params)})"
                      + ("" if where else f": {reason}"),
                      details={"params": params, "reason": reason, **numbers}, smallest_input=example,
                      findings=findings)
    settings = subject.param_settings(ctx.profile)
    return passed(f"jvp matches finite differences (float64, {len(settings)} setting(s))", findings=findings)
