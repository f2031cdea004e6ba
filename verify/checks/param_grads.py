"""`param_grads`: every trainable parameter's gradient, against finite differences."""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.gradcheck import GradcheckError
from torch.func import functional_call

from verify import tolerances as tol
from verify.checks._grad import EDGE_SHARE, first_line, sample_strategy, settings_label, smaller, steps
from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.strategies import falsify, to_tensor
from verify.subject import Subject


def _missing_gradients(fn: Any, names: list[str], x: torch.Tensor) -> list[str]:
    """Parameters that require grad but receive None from a backward."""
    fn.zero_grad(set_to_none=True)
    # The input requires grad too, so that a forward using every parameter detached
    # still has a graph to run backward through.
    y = fn(x.detach().requires_grad_())
    if not y.requires_grad:  # an output cut from the graph: nothing reaches any parameter
        return [n for n, p in fn.named_parameters() if p.requires_grad and n in names]
    y.sum().backward()
    return [n for n, p in fn.named_parameters() if p.requires_grad and n in names and p.grad is None]


@check("param_grads")
def check_param_grads(subject: Subject, ctx: Context) -> Outcome:
    """Trainable parameters' gradients against float64 finite differences, at the
    default initialisation and at every edge value the spec declares."""
    probe = subject.instance(torch.float64, ctx.device)
    if not subject.parameters(probe):
        return skipped("no trainable parameters")
    settings = subject.param_settings(ctx.profile)
    for i, params in enumerate(settings):
        fn = subject.instance(torch.float64, ctx.device, params)
        named = subject.parameters(fn)
        names = [n for n, _ in named]
        x0 = torch.linspace(-3, 3, int(torch.Size(subject.shape()).numel()), dtype=torch.float64, device=ctx.device)
        missing = _missing_gradients(fn, names, x0.reshape(subject.shape()))
        if missing:
            return failed(
                f"parameter(s) {', '.join(missing)} require grad but receive no gradient (None) "
                f"({settings_label(params)}): the backward returns None for them, or they are used detached",
                details={"params": params, "missing": missing},
            )
        originals = tuple(p.detach().clone() for _, p in named)
        at = steps(subject, ctx, params)

        def prop(a: object, fn: Any = fn, names: list[str] = names, originals: tuple = originals,
                 at: dict[str, float] = at) -> str | None:
            x = to_tensor(a, torch.float64, ctx.device)

            def as_function(*ps: torch.Tensor) -> torch.Tensor:
                return functional_call(fn, dict(zip(names, ps, strict=True)), (x.clone(),))

            inputs = tuple(p.clone().requires_grad_() for p in originals)
            try:
                torch.autograd.gradcheck(as_function, inputs, eps=at["eps"], atol=at["atol"], rtol=at["rtol"],
                                         check_undefined_grad=False, fast_mode=True)
            except GradcheckError as exc:
                return _name_parameter(first_line(exc), names)
            return None

        found = falsify(sample_strategy(subject, params), prop, ctx.profile, 1.0 if i == 0 else EDGE_SHARE)
        if found is not None:
            example, reason = smaller(subject, *found, prop)
            worst = _worst_entry(fn, names, originals, to_tensor(example, torch.float64, ctx.device), at["eps"])
            if worst is None:
                summary = f"{reason} ({settings_label(params)})"
            else:
                where = f"x={worst['x']:.6g}" if "x" in worst else f"output element {worst['output_index']}"
                summary = (f"gradient of parameter {worst['parameter']!r} disagrees with finite differences at {where} "
                           f"({settings_label(params)}): autograd {worst['analytical']:.6g}, numerical "
                           f"{worst['numerical']:.6g}")
            return failed(
                summary,
                details={"params": params, "reason": reason, "parameters": names, **(worst or {})},
                smallest_input=example,
            )
    return passed(
        f"gradients of {len(names)} parameter(s) match finite differences (float64, {len(settings)} setting(s))",
        details={"parameters": names, "settings": settings},
    )


def _worst_entry(fn: Any, names: list[str], originals: tuple[torch.Tensor, ...],
                 x: torch.Tensor, eps: float = tol.GRADCHECK_EPS) -> dict[str, Any] | None:
    """The parameter (and its entry) and the output element where autograd's derivative
    of that output and its central difference disagree most, with both values and the
    input element under that output when the shapes match. One backward per output
    element and two forwards per parameter entry: small inputs, and only on a failure.
    ``eps``: the difference step of the subject's resolution."""

    def f(*ps: torch.Tensor) -> torch.Tensor:
        return functional_call(fn, dict(zip(names, ps, strict=True)), (x.clone(),))

    leaves = [p.clone().requires_grad_() for p in originals]
    with torch.enable_grad():
        y = f(*leaves).reshape(-1)
    rows = [torch.autograd.grad(y[i], leaves, retain_graph=True, allow_unused=True) for i in range(y.numel())]
    worst: dict[str, Any] | None = None
    for k, (name, p) in enumerate(zip(names, originals, strict=True)):
        for j in range(p.numel()):
            step = torch.zeros(p.numel(), dtype=p.dtype, device=p.device)
            step[j] = eps
            with torch.no_grad():
                plus = f(*(q + step.reshape(q.shape) if m == k else q for m, q in enumerate(originals)))
                minus = f(*(q - step.reshape(q.shape) if m == k else q for m, q in enumerate(originals)))
            numerical = ((plus - minus) / (2 * eps)).reshape(-1)
            analytical = torch.stack([torch.zeros((), dtype=y.dtype, device=y.device) if r[k] is None
                                      else r[k].reshape(-1)[j] for r in rows])
            err = (analytical - numerical).abs()
            err = torch.where(torch.isnan(err), torch.full_like(err, float("inf")), err)
            i = int(err.argmax())
            if worst is None or float(err[i]) > worst["error"]:
                worst = {"parameter": name if p.numel() == 1 else f"{name}[{j}]", "output_index": i,
                         "analytical": float(analytical[i]), "numerical": float(numerical[i]), "error": float(err[i])}
                if y.numel() == x.numel():
                    worst["x"] = float(x.reshape(-1)[i])
    return worst


def _name_parameter(reason: str, names: list[str]) -> str:
    """gradcheck speaks of 'input k'; the user knows the parameter by name."""
    for i, n in enumerate(names):
        if f"input {i}" in reason:
            return f"gradient of parameter {n!r} disagrees with finite differences: {reason}"
    return f"parameter gradients disagree with finite differences: {reason}"
