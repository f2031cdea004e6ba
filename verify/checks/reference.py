"""`reference`: the subject's forward and backward against autograd through the
reference formula, in float64 and in every low-precision dtype. Without a spec (no
formula), each low-precision dtype against the subject itself in float64.

In a low-precision dtype both sides start from the same rounded input; the truth is
the reference in float64 at that input. The subject may err by a few roundings of the
result, or by as much as the plain reference formula itself run in that dtype (times a
little slack): never more. See ``verify.tolerances`` for the numbers.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from verify import tolerances as tol
from verify.analysis.kinkscan import kinks as kinks_of
from verify.checks._grad import formula_with_params, sample_strategy, settings_label
from verify.checks._layout import position
from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.strategies import falsify, to_tensor
from verify.subject import Subject


def _value_and_grad(fn: Any, x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """f(x) and the gradient of <f(x), weight>; zero where autograd gives none (an output
    cut from the input's graph: its gradient is zero, which a reference's is not, and
    the gradient checks name the cut)."""
    x = x.detach().clone().requires_grad_()
    y = fn(x)
    g = None
    if y.requires_grad:
        (g,) = torch.autograd.grad(y, x, grad_outputs=weight.to(y.dtype), allow_unused=True)
    if g is None:
        g = torch.zeros_like(x)
    return y.detach(), g.detach()


def _output_shape(fn: Any, x: Tensor) -> torch.Size:
    with torch.no_grad():
        return fn(x.double()).shape


def _term_sizes(fn: Any, x: Tensor, w: Tensor) -> Tensor:
    """For each input, sum_i |w_i dy_i/dx_j| in float64 plus max |w|: the size of the
    terms its gradient sums (small inputs: the Jacobian whole)."""
    jac = torch.autograd.functional.jacobian(fn, x.detach().double())
    jac = jac.reshape(w.numel(), x.numel()).abs().nan_to_num(nan=0.0, posinf=0.0)
    # Never below the incoming gradient's own size, the floor an elementwise one has.
    return (w.double().abs().reshape(-1, 1) * jac).sum(0).reshape(x.shape) + float(w.abs().max())


def _on_kink(x: Tensor, kinks: list[float]) -> Tensor:
    """Elements that rounding to a low-precision dtype put on (or within two ulps of)
    a kink: inputs are drawn away from kinks in float64, but bfloat16 rounds 6.001 to
    6. The value there is a convention, the `kinks` check's business."""
    near = torch.zeros(x.shape, dtype=torch.bool, device=x.device)
    if not kinks:
        return near
    ulp = torch.finfo(x.dtype).eps * x.double().abs().clamp_min(1.0)
    for k in kinks:
        near |= (x.double() - k).abs() <= 2 * ulp
    return near


def _excess(got: Tensor, truth: Tensor, naive: Tensor | None, dtype: torch.dtype,
            scale: Tensor | float = 1.0, spread: Tensor | float = 0.0) -> Tensor:
    """How far each element is beyond what is allowed (<= 0: within). Without a
    ``naive`` formula (no spec), see ``REFERENCE_SELF_ULPS``, plus ``spread``: how much
    the float64 truth moves when x moves by the rounding an intermediate such as w0 x
    gets in ``dtype`` (a steep function's condition number); ``scale`` is the size of
    the terms (the incoming gradient's weight for a gradient)."""
    got, truth = got.double(), truth.double()
    if naive is None:
        allowed = tol.REFERENCE_SELF_ULPS[dtype] * tol.EPS[dtype] * (truth.abs() + scale) + spread
        excess = (got - truth).abs() - allowed
        return torch.where(torch.isfinite(got) & torch.isfinite(truth), excess, -math.inf)
    naive = naive.double()
    allowed = torch.maximum(
        tol.REFERENCE_ULPS[dtype] * tol.EPS[dtype] * (truth.abs() + 1.0),
        tol.REFERENCE_SLACK * (naive - truth).abs().nan_to_num(nan=0.0, posinf=0.0),
    )
    err = (got - truth).abs()
    # Both infinite with the same sign, or both NaN, is agreement.
    same = (got == truth) | (got.isnan() & truth.isnan())
    err = torch.where(same, torch.zeros_like(err), err.nan_to_num(nan=float("inf")))
    return err - allowed


@check("reference", cost_s=0.2)
def check_reference(subject: Subject, ctx: Context) -> Outcome:
    """Forward and input gradient against the reference formula, per dtype."""
    spec = subject.spec
    params = spec.defaults() if spec is not None and spec.params else None
    # A gated subject is held to itself in float64 too, its outputs and gradients compared
    # position by position in their own shapes. A vector-valued one is not: its
    # reductions (a sum, a variance, a threshold between entries) cancel, and without a
    # plain formula run in the dtype there is no bound on what that costs.
    positionwise = subject.not_positionwise is None
    if spec is None and not positionwise and subject.layout.kind != "gated":
        return skipped(f"no reference formula, and {subject.not_positionwise}")
    rounds: list[tuple[torch.dtype, str, Any, torch.dtype]]
    if spec is None:
        # No formula to hold it to: each low-precision dtype against the subject itself
        # in float64 (a code path taken in one dtype only shows), allowed only the few
        # roundings of the result (there is no plain formula to be as inexact as).
        rounds = [(d, "float64", None, d) for d in ctx.dtypes if d != torch.float64]
        if not rounds:
            return skipped("no reference formula, and no dtype but float64 to compare with the subject in float64")
    else:
        # float64 against the reference and, where there is one, the built-in too: a
        # reference written wrong together with the functional is caught by the built-in.
        rounds = [(torch.float64, "reference", spec.reference, torch.float64)]
        if spec.builtin is not None:
            rounds.append((torch.float64, spec.builtin_name or "built-in", spec.builtin, tol.BUILTIN_TOLERANCE_DTYPE))
        rounds += [(d, "reference", spec.reference, d) for d in ctx.dtypes if d != torch.float64]
    worst: dict[str, Any] = {}
    kinks = kinks_of(subject, params)
    for dtype, truth_name, formula, tol_dtype in rounds:
        subject_fn = subject.instance(dtype, ctx.device, params)
        if formula is None:
            truth_fn, naive_fn = subject.instance(torch.float64, ctx.device, params), None
        else:
            # The formula takes the subject's own layout; the checks' inputs have features at 1.
            truth_fn = subject.layout.adapt(formula_with_params(formula, subject.instance(torch.float64, ctx.device,
                                                                                          params)))
            naive_fn = subject.layout.adapt(formula_with_params(formula, subject.instance(dtype, ctx.device, params)))
        large = tol.REFERENCE_RANGE.get(dtype, tol.STABLE_RANGE)
        state: dict[str, Any] = {}

        def prop(a: Any, dtype: torch.dtype = dtype, subject_fn: Any = subject_fn, naive_fn: Any = naive_fn,
                 truth_fn: Any = truth_fn, state: dict = state, truth_name: str = truth_name,
                 tol_dtype: torch.dtype = tol_dtype) -> str | None:
            x = to_tensor(a, dtype, ctx.device)
            out_shape = x.shape if positionwise else _output_shape(truth_fn, x)
            w = torch.linspace(0.5, 1.5, out_shape.numel(), device=ctx.device).reshape(out_shape).to(dtype)
            y, g = _value_and_grad(subject_fn, x, w)
            y_true, g_true = _value_and_grad(truth_fn, x.double(), w.double())
            y_naive, g_naive = (None, None) if naive_fn is None else _value_and_grad(naive_fn, x, w)
            spreads: dict[str, Tensor | float] = {"output": 0.0, "gradient": 0.0}
            if naive_fn is None:  # the truth at inputs an intermediate's rounding away
                step = tol.REFERENCE_INPUT_ROUNDINGS * tol.EPS[dtype]
                # Every input moved the same way, and (for a function of several inputs,
                # whose kinks lie where its inputs meet: sparsemax's support) in turn.
                signs = [torch.ones_like(x, dtype=torch.float64)]
                if not positionwise:
                    gen = torch.Generator().manual_seed(0)
                    signs.append(torch.randint(0, 2, tuple(x.shape), generator=gen).double() * 2 - 1)
                moved = [_value_and_grad(truth_fn, x.double() * (1 + k * step * s), w.double())
                         for s in signs for k in (-1.0, 1.0)]
                spreads = {"output": torch.stack([(m[0] - y_true).abs() for m in moved]).amax(0).nan_to_num(0.0),
                           "gradient": torch.stack([(m[1] - g_true).abs() for m in moved]).amax(0).nan_to_num(0.0)}
            on_kink = _on_kink(x, kinks)
            # A gradient entry of a function of several inputs sums one term per output
            # it feeds: its rounding scales with the size of those terms.
            terms = w.double().abs() if positionwise else _term_sizes(truth_fn, x, w)
            for what, got, truth, naive, scale in (("output", y, y_true, y_naive, 1.0),
                                                   ("gradient", g, g_true, g_naive, terms)):
                if naive is not None:
                    scale = 1.0
                skip = on_kink if got.shape == on_kink.shape else torch.zeros(got.shape, dtype=torch.bool)
                excess = _excess(got, truth, naive, tol_dtype, scale, spreads[what]).masked_fill(skip, -math.inf)
                i = int(excess.flatten().argmax())
                err = float((got.double() - truth).abs().flatten()[i])
                if err > state.get(what, {}).get("abs_error", -1.0):
                    state[what] = {"abs_error": err, "rel_error": err / max(abs(float(truth.flatten()[i])), 1e-300),
                                   "x": float(x.flatten()[i]) if got.shape == x.shape else None, "got": float(got.flatten()[i]),
                                   "expected": float(truth.flatten()[i]),
                                   # The tolerance that element was held to (error - excess).
                                   "allowed_error": err - float(excess.flatten()[i])
                                   if math.isfinite(float(excess.flatten()[i])) else None}
                if float(excess.flatten()[i]) > 0:
                    at = f"x={float(x.flatten()[i]):.6g}" if got.shape == x.shape else \
                        f"output {list(position(got, i))}"
                    return (f"{what} in {str(dtype).removeprefix('torch.')} off at {at}: "
                            f"got {float(got.flatten()[i]):.6g}, {truth_name} {float(truth.flatten()[i]):.6g}")
            return None

        strategy = sample_strategy(subject, params, batch=2, length=4, large=large)
        found = falsify(strategy, prop, ctx.profile)
        label = str(dtype).removeprefix("torch.") + ("" if truth_name == "reference" else f" vs {truth_name}")
        worst[label] = state
        if found is not None:
            example, reason = found
            return failed(reason + f" ({settings_label(params)})", details={"worst": worst, "dtype": str(dtype)},
                          smallest_input=example)
    if spec is None:
        return passed(f"forward and backward in {', '.join(d.removesuffix(' vs float64') for d in worst)} match the "
                      "subject in float64 at the same inputs (no reference formula)", details={"worst": worst})
    return passed(f"forward and backward match the reference in {', '.join(worst)}", details={"worst": worst})
