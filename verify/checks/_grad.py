"""Helpers shared by the gradient checks: sample tensors for a subject at a parameter
setting, and a readable account of a gradcheck failure."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st

from verify import tolerances as tol
from verify.analysis.kinkscan import kinks as kinks_of
from verify.analysis.kinkscan import second_order_kinks
from verify.analysis.precision import resolution
from verify.strategies import domain_range, tensors
from verify.subject import Subject


def sample_strategy(subject: Subject, params: dict[str, float] | None, batch: int = 2, length: int = 3,
                    large: float | None = None, also_avoid: tuple[float, ...] = ()) -> st.SearchStrategy[Any]:
    """Inputs for a gradient check, away from kinks and from the points where f'' jumps
    or is not finite: a check of the backward's derivative straddles those, and a
    central difference of f is off near a vertical tangent of f' (|x|^1.5 at 0);
    and from ``also_avoid``; by more than the difference step of the subject's
    resolution."""
    lo, hi = domain_range(subject.domain(params))
    avoid = sorted({*kinks_of(subject, params), *second_order_kinks(subject, params), *also_avoid})
    shape = subject.shape(batch, length)
    # Ties within a vector are the kinks of a vector-valued function (maxout).
    untie = None if subject.layout.kind in ("elementwise", "gated") else (1 if len(shape) >= 2 else 0)
    margin = tol.KINK_MARGIN_AT[resolution(subject, params)]
    return tensors(shape, lo, hi, avoid=avoid, large=large, untie=untie, margin=margin)


def steps(subject: Subject, ctx: Any, params: dict[str, float] | None = None) -> dict[str, float]:
    """torch's gradcheck ``eps``, ``atol`` and ``rtol`` at the resolution the subject
    computes float64 inputs at (:func:`verify.analysis.precision.resolution`): a
    float32-inside subject's differences are taken with float32's step."""
    at = resolution(subject, params, ctx.device)
    return {"eps": tol.GRADCHECK_EPS_AT[at], "atol": tol.GRADCHECK_ATOL_AT[at], "rtol": tol.GRADCHECK_RTOL_AT[at]}


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


CUT_FROM_GRAPH = "no gradient flows: the output is cut from the input's graph (it does not require grad)"


def cut_from_graph(fn: Any, x: torch.Tensor, y: torch.Tensor) -> str | None:
    """For an output ``y = fn(x)`` that does not require grad: :data:`CUT_FROM_GRAPH`
    when it changes with ``x`` all the same (a ``.detach()``, a ``.tolist()`` or
    ``.numpy()`` round trip); None for a constant or a step away from its jumps."""
    # Unequal steps, so that a function of differences (softmax) moves too.
    steps = 1e-6 * torch.linspace(1.0, 2.0, x.numel(), dtype=x.dtype, device=x.device).reshape(x.shape)
    with torch.no_grad():
        moved = fn(x.detach() + steps)
    return CUT_FROM_GRAPH if isinstance(moved, torch.Tensor) and not torch.equal(moved, y) else None


def worst_elementwise(fn: Any, x: torch.Tensor, eps: float = 1e-6, mode: str = "backward",
                      kind: str = "elementwise") -> dict[str, Any]:
    """For an elementwise function: the element where a derivative and its central
    difference disagree most, with both values. ``mode`` says which derivative:
    ``backward`` (autograd's f' against differences of f), ``forward`` (forward-mode
    AD's jvp along ones, against differences of f) or ``second`` (autograd's f'' through
    the backward, against differences of the backward's f'). Any other ``kind`` (gated,
    vector-valued, shape-changing) is judged entry by entry of its Jacobian
    (:func:`worst_jacobian`)."""
    x = x.detach().clone()

    def backward(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().clone().requires_grad_()
        with torch.enable_grad():
            (g,) = torch.autograd.grad(fn(t.clone()).sum(), t, allow_unused=True)
        return torch.zeros_like(t) if g is None else g.detach()

    with torch.no_grad():
        same_shape = fn(x.clone()).shape == x.shape
    if not same_shape or kind != "elementwise":
        return worst_jacobian(fn, x, eps, mode, kind)
    if mode == "second":
        t = x.clone().requires_grad_()
        with torch.enable_grad():
            (d1,) = torch.autograd.grad(fn(t.clone()).sum(), t, create_graph=True)
            d2 = torch.autograd.grad(d1.sum(), t, allow_unused=True)[0] if d1.requires_grad else None
        analytical = torch.zeros_like(x) if d2 is None else d2.detach()
        numerical = (backward(x + eps) - backward(x - eps)) / (2 * eps)
    else:
        if mode == "forward":
            with torch.autograd.forward_ad.dual_level():
                dual = torch.autograd.forward_ad.make_dual(x.clone(), torch.ones_like(x))
                tangent = torch.autograd.forward_ad.unpack_dual(fn(dual)).tangent
            analytical = torch.zeros_like(x) if tangent is None else tangent.detach()
        else:
            analytical = backward(x)
        with torch.no_grad():
            numerical = (fn(x + eps) - fn(x - eps)) / (2 * eps)
    err = (analytical - numerical).abs().flatten()
    err = torch.where(torch.isnan(err), torch.full_like(err, float("inf")), err)
    i = int(err.argmax())
    return {"x": float(x.flatten()[i]), "analytical": float(analytical.flatten()[i]),
            "numerical": float(numerical.flatten()[i])}


def worst_jacobian(fn: Any, x: torch.Tensor, eps: float = 1e-6, mode: str = "backward",
                   kind: str = "vector") -> dict[str, Any]:
    """For a function whose outputs depend on several inputs: the entry of the Jacobian
    (one output, one input) where the derivative (``backward``: autograd's rows;
    ``forward``: jvp columns; ``second``: the Jacobian of the backward's vector-Jacobian
    product with a fixed upstream gradient) and its central difference disagree most,
    with both values and both positions. One call per input element: small inputs, and
    only on a failure. A gated input's position names its half (a or b)."""
    from verify.checks._layout import position, upstream_grad

    x = x.detach().clone()
    with torch.no_grad():
        y0 = fn(x.clone())
    gy = upstream_grad(y0.shape, x.dtype, x.device)

    def value(t: torch.Tensor, grad: bool = False) -> torch.Tensor:
        """What is differentiated: f, or (second order) the backward of <f, gy>."""
        if mode != "second":
            return fn(t.clone())
        t = t if grad else t.detach().clone().requires_grad_()
        with torch.enable_grad():
            y = fn(t.clone())
            g = torch.autograd.grad(y, t, gy, create_graph=True, allow_unused=True)[0] if y.requires_grad else None
        return torch.zeros_like(t) if g is None else (g if grad else g.detach())

    n = x.numel()
    numerical = []
    for j in range(n):
        e = torch.zeros(n, dtype=x.dtype, device=x.device)
        e[j] = eps
        with torch.no_grad() if mode != "second" else torch.enable_grad():
            hi, lo = value(x + e.reshape(x.shape)), value(x - e.reshape(x.shape))
        numerical.append(((hi - lo) / (2 * eps)).detach().flatten())
    num = torch.stack(numerical, dim=1)  # (outputs, inputs)
    if mode == "forward":
        cols = []
        for j in range(n):
            e = torch.zeros(n, dtype=x.dtype, device=x.device)
            e[j] = 1.0
            with torch.autograd.forward_ad.dual_level():
                out = fn(torch.autograd.forward_ad.make_dual(x.clone(), e.reshape(x.shape)))
                tangent = torch.autograd.forward_ad.unpack_dual(out).tangent
            cols.append(torch.zeros(num.shape[0], dtype=x.dtype) if tangent is None else tangent.detach().flatten())
        ana = torch.stack(cols, dim=1)
    else:
        t = x.clone().requires_grad_()
        with torch.enable_grad():
            out = value(t, grad=True).flatten()
            rows = []
            for i in range(out.numel()):
                g = torch.autograd.grad(out[i], t, retain_graph=True, allow_unused=True)[0] if out.requires_grad else None
                rows.append(torch.zeros(n, dtype=x.dtype) if g is None else g.detach().flatten())
        ana = torch.stack(rows, dim=0)
    err = (ana - num).abs()
    err = torch.where(torch.isnan(err), torch.full_like(err, float("inf")), err)
    k = int(err.flatten().argmax())
    i, j = divmod(k, n)
    out_shape = x.shape if mode == "second" else y0.shape
    at_in, at_out = position(x, j), position(torch.empty(out_shape), i)
    d = 1 if x.dim() >= 2 else 0
    name = "x"
    if kind == "gated" and x.dim() > 0:
        half = x.shape[d] // 2
        name = "b" if at_in[d] >= half else "a"
        at_in = tuple(v - half if (k_ == d and name == "b") else v for k_, v in enumerate(at_in))
    return {"x": float(x.flatten()[j]), "analytical": float(ana[i, j]), "numerical": float(num[i, j]),
            "entry": f"d y{list(at_out)} / d {name}{list(at_in)}", "input": list(position(x, j)),
            "output": list(at_out)}


def located(subject: Subject, ctx: Any, params: dict[str, float] | None, example: Any,
            mode: str) -> tuple[str, dict[str, float]]:
    """Where on a failing example a derivative is worst, as a phrase for the summary
    (" at x=..: autograd .., numerical ..") and numbers for the details; nothing when
    the subject is not elementwise (then the reason gradcheck gives stands alone)."""
    from verify.strategies import to_tensor

    names = {"backward": "autograd", "forward": "jvp", "second": "autograd f''"}
    try:
        fn = subject.instance(torch.float64, ctx.device, params)
        worst = worst_elementwise(fn, to_tensor(example, torch.float64, ctx.device),
                                  eps=steps(subject, ctx, params)["eps"], mode=mode, kind=subject.layout.kind)
    except Exception:  # the phrase is a courtesy; gradcheck's reason is the verdict
        return "", {}
    return (f" at x={worst['x']:.6g}{entry_phrase(worst)}: {names[mode]} {worst['analytical']:.6g}, "
            f"numerical {worst['numerical']:.6g}", worst)


def entry_phrase(worst: dict[str, Any]) -> str:
    """Which Jacobian entry a located failure is, for a subject that is not elementwise."""
    return f" ({worst['entry']})" if "entry" in worst else ""


def settings_label(params: dict[str, float] | None) -> str:
    return "default parameters" if not params else ", ".join(f"{k}={v:g}" for k, v in params.items())


# Each parameter edge value gets this share of the profile's examples (at least 3):
# an edge value is one more point in parameter space, not a new function, and a
# spec such as SReLU declares eight of them.
EDGE_SHARE = 0.2


def search_settings(subject: Subject, ctx: Any, judge: Any, also_avoid: tuple[float, ...] = ()
                    ) -> tuple[dict[str, float] | None, Any, str] | None:
    """Run ``judge(fn, x, eps=, atol=, rtol=) -> reason | None`` (the steps of
    :func:`steps`) over drawn float64 inputs at every parameter setting; the first
    failure as (params, smallest input, reason). ``fn``
    calls the subject on a copy of its input: one that writes into its input without
    marking it dirty has its gradients judged here, its mutation by `no_mutation`."""
    from verify.strategies import falsify, to_tensor

    settings = subject.param_settings(ctx.profile)
    for i, params in enumerate(settings):
        fn = subject.instance(torch.float64, ctx.device, params)
        at = steps(subject, ctx, params)

        def prop(a: Any, fn: Any = fn, at: dict[str, float] = at) -> str | None:
            def call(x: torch.Tensor) -> Any:
                return fn(x.clone())

            x = to_tensor(a, torch.float64, ctx.device).requires_grad_()
            with torch.enable_grad():
                y = call(x)
            # torch's checks cannot take a function without a differentiable output
            # (gradgradcheck calls it with no arguments at all).
            if isinstance(y, torch.Tensor) and not y.requires_grad:
                return cut_from_graph(call, x, y)
            return judge(call, x, **at)

        # The defaults get the profile's full search; the edge values share it.
        share = 1.0 if i == 0 else EDGE_SHARE
        strategy = sample_strategy(subject, params, also_avoid=also_avoid)
        found = falsify(strategy, prop, ctx.profile, share)
        if found is not None:
            return params, *smaller(subject, found[0], found[1], prop)
    return None


# The most values of a failing example tried, one at a time, as a smallest input.
SMALLER_TRIES = 8


def smaller(subject: Subject, example: Any, reason: str, prop: Any) -> tuple[Any, str]:
    """A failing example made as small as an input can be: hypothesis shrinks the values
    but not the shape (a 2x4x3 block of 1.0), so for an elementwise subject each of its
    values, smallest first, is tried alone in the smallest input of the layout (one
    sample, one position per channel). The first that still fails, else the example."""
    if subject.layout.kind != "elementwise":
        return example, reason
    shape = subject.shape(1, 1)
    values = np.unique(np.asarray(example, dtype=np.float64))
    for v in sorted(values, key=abs)[:SMALLER_TRIES]:
        small = np.full(shape, v)
        if small.size >= np.asarray(example).size:
            break
        why = prop(small)
        if why:
            return small, why
    return example, reason


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


def search_off_jumps(subject: Subject, ctx: Any, judge: Any, mode: str = "backward"
                     ) -> tuple[tuple[dict[str, float] | None, Any, str] | None, dict[str, Any] | None,
                                list[tuple[float, float]]]:
    """:func:`search_settings`, where a failure that central differences straddling a
    jump explain (of f, or of f' for ``mode`` "second": a piece narrower than the step)
    is searched again with that point avoided, up to ``GRADCHECK_MAX_JUMPS`` times. The
    failure left (or None), where it is worst, and the jumps as (x, size)."""
    from verify.strategies import to_tensor

    jumps: list[tuple[float, float]] = []
    while True:
        found = search_settings(subject, ctx, judge, also_avoid=tuple(x for x, _ in jumps))
        if found is None:
            return None, None, jumps
        params, example, reason = found
        if reason == CUT_FROM_GRAPH or subject.not_positionwise is not None:
            return found, None, jumps
        fn = subject.instance(torch.float64, ctx.device, params)
        h = steps(subject, ctx, params)["eps"]
        x = to_tensor(example, torch.float64, ctx.device)
        worst = worst_elementwise(fn, x, eps=h, mode=mode, kind=subject.layout.kind)
        line = fn if mode != "second" else _derivative(fn)
        jump = None if len(jumps) >= tol.GRADCHECK_MAX_JUMPS else _jump(line, x, worst, h)
        if jump is None:
            return found, worst, jumps
        jumps.append((worst["x"], jump))


def jump_findings(jumps: list[tuple[float, float]], h: float, of: str = "the forward") -> list[str]:
    return [f"{of} jumps by {size:.3g} within {h:g} of x = {x:.6g}: central differences straddling it are no "
            "verdict on the derivative (the kinks check judges a jump)" for x, size in jumps]


def _derivative(fn: Any) -> Any:
    """autograd's f' of an elementwise function, as a function (no graph kept)."""
    def d(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().clone().requires_grad_()
        with torch.enable_grad():
            (g,) = torch.autograd.grad(fn(t.clone()).sum(), t, allow_unused=True)
        return torch.zeros_like(t) if g is None else g.detach()

    return d


def _jump(fn: Any, x: torch.Tensor, worst: dict[str, float], h: float) -> float | None:
    """The size of a jump of ``fn`` within a difference step of the worst element, when
    the central differences say there is one (None: they say the derivative is wrong). A
    jump J between x - h and x + h adds J / 2h to the difference with step h and J / h to
    the one with step h / 2: their gap is then as large as the difference's own gap from
    a correct derivative; for a wrong derivative both differences agree."""
    with torch.no_grad():
        d1 = (fn(x + h) - fn(x - h)) / (2 * h)
        d2 = (fn(x + h / 2) - fn(x - h / 2)) / h
    hits = torch.nonzero(x.flatten() == worst["x"]).flatten()
    if hits.numel() == 0:
        return None
    i = int(hits[0])
    d1_i, d2_i = float(d1.flatten()[i]), float(d2.flatten()[i])
    if not abs(d2_i - d1_i) > 0.5 * abs(d1_i - worst["analytical"]):
        return None
    return 2 * h * (d2_i - d1_i)
