"""`forward_ad`: forward-mode AD (jvp) against finite differences, in float64."""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.gradcheck import GradcheckError

from verify import tolerances as tol
from verify.checks._grad import first_line, sample_strategy, settings_label
from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.strategies import falsify, to_tensor
from verify.subject import Subject

# What torch says when forward AD is not available for a piece of the forward.
UNSUPPORTED = (
    "must implement the jvp function",
    "does not support forward AD",
    "not implemented for forward AD",
    "Trying to use forward AD with",
)


@check("forward_ad")
def check_forward_ad(subject: Subject, ctx: Context) -> Outcome:
    """Forward-mode AD against finite differences where it is supported."""
    if subject.has_custom_jvp is False:
        names = ", ".join(c.__name__ for c in subject.custom_functions)
        return skipped(f"forward-mode AD not supported: {names} defines no jvp")
    settings = subject.param_settings()
    for params in settings:
        fn = subject.instance(torch.float64, ctx.device, params)

        def prop(a: object, fn: Any = fn) -> str | None:
            x = to_tensor(a, torch.float64, ctx.device).requires_grad_()
            try:
                torch.autograd.gradcheck(
                    fn, (x,), eps=tol.GRADCHECK_EPS, atol=tol.GRADCHECK_ATOL, rtol=tol.GRADCHECK_RTOL,
                    check_forward_ad=True, check_backward_ad=False, check_undefined_grad=False, fast_mode=True,
                    check_batched_grad=False,
                )
            except GradcheckError as exc:
                return first_line(exc)
            except (RuntimeError, NotImplementedError) as exc:
                if any(u in str(exc) for u in UNSUPPORTED):
                    raise _Unsupported(first_line(exc)) from exc
                raise
            return None

        try:
            found = falsify(sample_strategy(subject, params), prop, ctx.profile)
        except _Unsupported as exc:
            return skipped(f"forward-mode AD not supported: {exc}")
        if found is not None:
            example, reason = found
            return failed(
                f"forward-mode derivative (jvp) wrong ({settings_label(params)}): {reason}",
                details={"params": params, "reason": reason},
                smallest_input=example,
            )
    return passed(f"jvp matches finite differences (float64, {len(settings)} setting(s))")


class _Unsupported(Exception):
    pass
