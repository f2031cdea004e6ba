"""Helpers shared by the gradient checks: sample tensors for a subject at a parameter
setting, and a readable account of a gradcheck failure."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

from verify.strategies import domain_range, tensors
from verify.subject import Subject


def sample_strategy(subject: Subject, params: dict[str, float] | None, batch: int = 2, length: int = 3,
                    large: float | None = None, second_order: bool = False) -> st.SearchStrategy[Any]:
    """Inputs for a gradient check, away from kinks (and, with ``second_order``, from
    the points where f'' jumps, which a check of the backward's derivative straddles)."""
    lo, hi = domain_range(subject.domain(params))
    avoid = subject.kinks(params)
    if second_order:
        avoid = sorted({*avoid, *subject.second_order_kinks(params)})
    return tensors(subject.shape(batch, length), lo, hi, avoid=avoid, large=large)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def worst_elementwise(fn: Any, x: torch.Tensor, eps: float = 1e-6) -> dict[str, float]:
    """For an elementwise function: the element where autograd's derivative and a
    central difference disagree most, with both values."""
    x = x.detach().clone().requires_grad_()
    y = fn(x.clone())
    (g,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
    if g is None:
        g = torch.zeros_like(x)
    with torch.no_grad():
        num = (fn(x + eps) - fn(x - eps)) / (2 * eps)
    err = (g - num).abs().flatten()
    err = torch.where(torch.isnan(err), torch.full_like(err, float("inf")), err)
    i = int(err.argmax())
    x, g = x.detach().flatten(), g.detach().flatten()
    return {"x": float(x[i]), "analytical": float(g[i]), "numerical": float(num.flatten()[i])}


def settings_label(params: dict[str, float] | None) -> str:
    return "default parameters" if not params else ", ".join(f"{k}={v:g}" for k, v in params.items())


# Each parameter edge value gets this share of the profile's examples (at least 3):
# an edge value is one more point in parameter space, not a new function, and a
# spec such as SReLU declares eight of them.
EDGE_SHARE = 0.2


def search_settings(subject: Subject, ctx: Any, judge: Any, second_order: bool = False
                    ) -> tuple[dict[str, float] | None, Any, str] | None:
    """Run ``judge(fn, x) -> reason | None`` over drawn float64 inputs at every
    parameter setting; the first failure as (params, smallest input, reason). ``fn``
    calls the subject on a copy of its input: one that writes into its input without
    marking it dirty has its gradients judged here, its mutation by `no_mutation`."""
    from verify.strategies import falsify, to_tensor

    settings = subject.param_settings()
    for i, params in enumerate(settings):
        fn = subject.instance(torch.float64, ctx.device, params)

        def prop(a: Any, fn: Any = fn) -> str | None:
            return judge(lambda x: fn(x.clone()), to_tensor(a, torch.float64, ctx.device).requires_grad_())

        # The defaults get the profile's full search; the edge values share it.
        share = 1.0 if i == 0 else EDGE_SHARE
        found = falsify(sample_strategy(subject, params, second_order=second_order), prop, ctx.profile, share)
        if found is not None:
            return params, found[0], found[1]
    return None


def formula_with_params(formula: Any, module: Any, detach: bool = True) -> Any:
    """``formula`` (the spec's reference or built-in) called with ``module``'s own
    parameter tensors, so that per-channel parameters keep the subject's layout;
    with ``detach=False`` the parameters stay in the graph (their gradients count)."""
    values = dict(module.param_values()) if hasattr(module, "param_values") else {}
    if detach:
        values = {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in values.items()}

    def call(x: torch.Tensor) -> torch.Tensor:
        return formula(x, **values)

    return call
