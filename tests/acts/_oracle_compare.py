"""Compare an activation with its oracle, value and derivatives, in ulps of a dtype.

The truth is ``spec.reference`` in float64 at the input (and parameters) rounded to the
dtype. An element's error is |got - truth| in ulps of the dtype at the truth (at least
the smallest normal). It passes when

    |got - truth| <= BOUND_ULPS[dtype] ulps + |q(x (1 +- d)) - q(x)|,   d = ROUNDINGS * eps,

the second term being the backward error every eager formula is entitled to: an
intermediate such as x / sqrt(2) or beta x is rounded before a steep function sees it,
so the result is the function at an input a rounding or two away (the condition number
|x q'(x) / q(x)| times eps). At a declared kink each quantity may take any value between
its one-sided limits (the Clarke subdifferential; at a jump, either side's value). Where
the float64 truth lies beyond the dtype's largest finite value the correctly rounded
result is the infinity of its sign, and anything else is an error. Errors below an
underflow floor (UNDERFLOW_POWER) are none, and SCALE names the few quantities held to
ulps of a scale rather than of their value, each with its reason.

A spec with a layout (``Activation.layout``) takes rows: a gated one (n, 2) rows (a, b),
its kinks on a; a vector one (n, VECTOR_WIDTH) rows, its derivative the gradient of
sum(w y) with the fixed weights w = 1, 2, 3, ... (sum(y) of sparsemax is constant). The
backward error then moves every entry of a row its own way (each sign pattern).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

import acts

DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)

# Per dtype, the ulps an implementation may be off beyond the backward error, for the
# value and for the derivatives (input and parameters).
# - float64: two correct float64 formulas of one function (a chain of ops against a
#   closed form through exp and asinh) differ by a few ulps per op; the oracle carries
#   its own few ulps, so 16 covers both and an O(1e-14) slip of a constant fails. A
#   derivative that crosses 0 (at the minimum of GELU, Mish, SiLU) is there a difference
#   of terms about 1/4 in size, one ulp of which is 16 ulps of the small result: 32.
# - float32: torch's float32 transcendental kernels are within 1-4 ulps (SLEEF's u10
#   and u35 variants); a chain of three or four of them, 8.
# - bfloat16 and float16: each eager op rounds its result to 8 (11) bits, so a chain of
#   k ops may be off by about k/2 ulps, and autograd's backward of a product runs a few
#   more ops than the forward: 4 for the value, 8 for the derivatives.
BOUND_ULPS: dict[torch.dtype, dict[str, float]] = {
    torch.float64: {"value": 16.0, "derivative": 32.0},
    torch.float32: {"value": 8.0, "derivative": 8.0},
    torch.bfloat16: {"value": 4.0, "derivative": 8.0},
    torch.float16: {"value": 4.0, "derivative": 8.0},
}
# The backward error allowed: the input perturbed by this many epsilons of the dtype
# (two roundings of an intermediate, each at most half an ulp, and the oracle's own).
ROUNDINGS = 2.0

# An absolute floor: an error within max(1, |x|)^UNDERFLOW_POWER smallest normals of
# the dtype is no error. A factor like e^x underflows before what multiplies it: x in
# SiLU's x e^x (-1.9e-37 at x = -89 in float32, where sigmoid(x) is already 0), x^2 in
# swish's d/dbeta = x^2 sigmoid'(beta x). bfloat16's ops compute in float32, whose
# exponent range it shares; float16's compute in float32 too, far from float16's
# underflow, so only float16's own subnormal results are lost.
UNDERFLOW_POWER = {torch.float64: 2, torch.float32: 2, torch.bfloat16: 2, torch.float16: 0}

# Per-spec overrides: a derivative measured in ulps of max(|truth|, scale), not |truth|,
# with the reason.
SCALE: dict[tuple[str, str], float | str] = {
    # f' = 1 + sin(2 alpha x) touches 0 once a period: a sum of terms of size 1 there,
    # whose rounding no formula escapes.
    ("snake", "d/dx"): 1.0,
    # "x": ulps of max(|truth|, |x|). An affine piece rounds terms of size |x|: where its
    # value nearly cancels (SReLU's outer piece at the edge a_l = 0, APL below both
    # hinges at a1 = -a2) the oracle's hinge sum is only that exact.
    ("apl", "value"): "x",
    ("srelu", "value"): "x",
    # (For a row, |x| is the largest |entry|.) Sparsemax's x_i - tau, tau a sum of the
    # support's entries over its size: a difference of terms of the row's size.
    ("sparsemax", "value"): "x",
}

# The rows of a vector spec, as wide as the default width the checks use, and the
# halvings of the backward-error box at which its oracle is sampled besides the corners.
VECTOR_WIDTH = 4
BOX_HALVINGS = 3
# A gated grid holds each half on the 1-d grid with the other half at each of these
# (signs, a small and a large size), and as many pairs drawn from the grid.
HELD = (-300.0, -1.0, 0.0, 0.5, 7.0)
PAIRS = 1 << 15

# Offset at which the one-sided limits at a kink are read from the oracle (float64).
KINK_SIDE = 1e-9

# The dense grid: DENSE_POINTS evenly spaced on [-DENSE_RANGE, DENSE_RANGE], and
# LOG_POINTS log-spaced magnitudes a sign from LOG_MIN to the spec's stable range.
DENSE_RANGE, DENSE_POINTS = 8.0, 1 << 14
LOG_MIN, LOG_POINTS = 1e-8, 4096


def every_finite(dtype: torch.dtype) -> Tensor:
    """Every finite value of a 16-bit dtype, as float64."""
    bits = torch.arange(-(1 << 15), 1 << 15, dtype=torch.int32).to(torch.int16)
    v = bits.view(dtype).double()
    return v[torch.isfinite(v)]


def grid(spec: acts.Activation, params: Mapping[str, float] | None = None, every_half: bool = True) -> Tensor:
    """The float64 grid every dtype rounds: dense near 0, log-spaced out to the stable
    range, every finite float16 and bfloat16 value, kinks; inside the domain."""
    r = spec.properties.stable_range
    mags = torch.logspace(math.log10(LOG_MIN), math.log10(r), LOG_POINTS, dtype=torch.float64)
    kinks = torch.tensor(spec.kink_points(params), dtype=torch.float64)
    parts = [torch.linspace(-DENSE_RANGE, DENSE_RANGE, DENSE_POINTS + 1, dtype=torch.float64), mags, -mags,
             kinks, torch.tensor([0.0, r, -r])]
    if every_half:
        parts += [every_finite(torch.float16), every_finite(torch.bfloat16)]
    x = torch.cat(parts)
    lo, hi = spec.domain_at(params)
    return torch.unique(x[(x.abs() <= r) & (x > lo) & (x < hi)])


def kind(spec: acts.Activation) -> str:
    """"elementwise", "gated" or "vector": how the spec takes its input."""
    return (spec.layout or "elementwise").split(":")[0]


def rows(spec: acts.Activation, params: Mapping[str, float] | None = None, every_half: bool = True) -> Tensor:
    """The float64 input of the comparison: the grid, or for a spec with a layout, rows
    of it. Gated: each half along the grid with the other at each of HELD, and PAIRS
    pairs drawn from the grid. Vector: the grid spread over rows (each value in every
    position), and PAIRS rows drawn from it, every fourth with a tie."""
    x = grid(spec, params, every_half)
    if kind(spec) == "elementwise":
        return x
    gen = torch.Generator().manual_seed(0)
    width = 2 if kind(spec) == "gated" else VECTOR_WIDTH
    drawn = x[torch.randint(0, x.numel(), (PAIRS, width), generator=gen)]
    if kind(spec) == "gated":
        held = torch.tensor(HELD, dtype=torch.float64)
        a, h = x.repeat_interleave(held.numel()), held.repeat(x.numel())
        return torch.cat([torch.stack([a, h], 1), torch.stack([h, a], 1), drawn])
    drawn[::4, 1] = drawn[::4, 0]
    n = -(-x.numel() // width) * width
    spread = torch.cat([x, x[: n - x.numel()]]).reshape(-1, width)
    return torch.cat([spread, spread.roll(1, dims=1), drawn])


@dataclass(frozen=True)
class Comparison:
    """One quantity of one spec in one dtype: the worst element, in ulps, before the
    backward-error allowance (kinks and lost underflows aside) and beyond it, and how
    many elements broke the bound."""

    name: str
    dtype: torch.dtype
    quantity: str  # "value", "d/dx" or "d/d<param>"
    points: int
    max_ulps: float
    max_excess_ulps: float
    failures: int
    worst_x: float | tuple[float, ...]  # a row for a spec with a layout
    worst_got: float
    worst_truth: float

    @property
    def ok(self) -> bool:
        return self.failures == 0

    def __str__(self) -> str:
        return (f"{self.name} {str(self.dtype).removeprefix('torch.')} {self.quantity}: {self.failures} of "
                f"{self.points} beyond {bound(self.dtype, self.quantity):g} ulps (worst {self.max_excess_ulps:.3g} "
                f"beyond the backward error, {self.max_ulps:.3g} in all, at x={_fmt(self.worst_x)}: got "
                f"{self.worst_got:.8g}, oracle {self.worst_truth:.8g})")


def _fmt(x: float | tuple[float, ...]) -> str:
    return f"{x:.6g}" if isinstance(x, float) else "(" + ", ".join(f"{v:.6g}" for v in x) + ")"


def bound(dtype: torch.dtype, quantity: str) -> float:
    return BOUND_ULPS[dtype]["value" if quantity == "value" else "derivative"]


def ulp(v: Tensor, dtype: torch.dtype) -> Tensor:
    """The spacing of ``dtype`` at |v| (float64), at least that at the smallest normal and
    at most that at the largest finite value."""
    fi = torch.finfo(dtype)
    a = v.abs().nan_to_num(nan=fi.max).clamp(fi.tiny, fi.max)
    _, e = torch.frexp(a)
    return torch.ldexp(torch.full_like(a, fi.eps), (e - 1).to(torch.int32))


Quantities = dict[str, Tensor]


def quantities(fn: Callable[..., Tensor], x: Tensor, params: Mapping[str, Tensor], trainable: tuple[str, ...],
               weights: Tensor | None = None) -> Quantities:
    """Value, d/dx (reverse mode, of sum(weights y)) and d/dparam per element (forward
    mode, tangent 1 on every channel of the parameter) of ``fn(x, **params)``."""
    x = x.detach().requires_grad_()
    y = fn(x, **params)
    (gx,) = torch.autograd.grad(y.sum() if weights is None else (y * weights.to(y.dtype)).sum(), x)
    out = {"value": y.detach(), "d/dx": gx.detach()}
    for name in trainable:
        p = params[name]
        _, t = torch.func.jvp(lambda q, name=name: fn(x.detach(), **{**params, name: q}), (p,), (torch.ones_like(p),))
        out[f"d/d{name}"] = t.detach()
    return out


def compare(spec: acts.Activation, dtype: torch.dtype, x64: Tensor | None = None,
            functional: Callable[..., Tensor] | None = None, params: Mapping[str, float] | None = None
            ) -> list[Comparison]:
    """The implementation (``functional``, by default the spec's) against the spec's
    oracle in ``dtype`` at ``params`` (by default the defaults), on ``x64`` (by default
    the grid).
    On one thread: 10^5-element ops gain little from a second one, and on a shared
    2-core machine under pytest-xdist a second thread per worker costs several times
    the run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _compare(spec, dtype, x64, functional, {**spec.defaults(), **(params or {})})
    finally:
        torch.set_num_threads(threads)


def _compare(spec: acts.Activation, dtype: torch.dtype, x64: Tensor | None,
             functional: Callable[..., Tensor] | None, settings: Mapping[str, float]) -> list[Comparison]:
    functional = functional or spec.functional
    channels = 4
    params = {p.name: torch.full((channels,) if p.per_channel else (), settings[p.name], dtype=dtype)
              if p.trainable else settings[p.name] for p in spec.params}
    params64 = {k: (v.double() if isinstance(v, Tensor) else v) for k, v in params.items()}
    trainable = tuple(p.name for p in spec.trainable)

    x64 = rows(spec, settings) if x64 is None else x64
    if kind(spec) == "elementwise":
        x = torch.unique(x64.to(dtype))
        pad = (-x.numel()) % channels
        x = torch.cat([x, x[:1].expand(pad)]).reshape(-1, channels)
    else:
        x = torch.unique(x64.to(dtype), dim=0)
    xd = x.double()
    weights = torch.arange(1, x.shape[1] + 1, dtype=torch.float64) if kind(spec) == "vector" else None

    def oracle(at: Tensor) -> Quantities:
        return quantities(spec.reference, at, params64, trainable, weights)

    truth = oracle(xd)
    # Where the function overflows float64 itself there is no finite truth to compare
    # with (a NaN stays, and fails).
    keep = ~truth["value"].isinf().any(dim=1)
    x, xd = x[keep], xd[keep]
    truth = {q: t[keep] for q, t in truth.items()}
    got = quantities(functional, x, params, trainable, weights)
    # The backward error: the oracle a few roundings either side of x (across a kink,
    # too: a rounded intermediate may land on it and take the other side's slope); each
    # entry of a row its own way.
    delta = ROUNDINGS * torch.finfo(dtype).eps
    if kind(spec) == "elementwise":
        signs = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    else:
        signs = torch.cartesian_prod(*[torch.tensor([1.0, -1.0], dtype=torch.float64)] * x.shape[1])
    # A vector spec's Jacobian is piecewise constant (sparsemax's support), and takes
    # values inside the box that its corners miss: the box is also sampled at halvings.
    if kind(spec) == "vector":
        signs = torch.cat([signs * 2.0**-k for k in range(BOX_HALVINGS + 1)])
    allowance = {q: torch.zeros_like(t) for q, t in truth.items()}
    for s in signs:
        nearby = oracle(xd * (1 + s * delta))
        for q in truth:
            step = (nearby[q] - truth[q]).abs().nan_to_num(nan=0.0, posinf=0.0)
            allowance[q] = torch.maximum(allowance[q], step)
    # Kinks lie on the input itself, or on a gated row's first half.
    on = xd if kind(spec) == "elementwise" else xd[:, :1]
    kinks = [float(torch.tensor(k).to(dtype)) for k in spec.kink_points(settings)]
    on_kink = torch.zeros_like(on, dtype=torch.bool)
    for k in kinks:
        on_kink |= on == k
    # What passes: the hull of the oracle's value, its backward-error neighbours and, at
    # a kink, its one-sided limits; then BOUND_ULPS beyond the nearest end.
    lo = {q: t - allowance[q] for q, t in truth.items()}
    hi = {q: t + allowance[q] for q, t in truth.items()}
    if on_kink.any():
        for s in (1.0, -1.0):
            shift = torch.zeros_like(xd)
            shift[:, : on.shape[1]] = s * KINK_SIDE * on.abs().clamp_min(1.0)
            side = oracle(xd + shift)
            for q in truth:
                lo[q] = torch.where(on_kink, torch.minimum(lo[q], side[q]), lo[q])
                hi[q] = torch.where(on_kink, torch.maximum(hi[q], side[q]), hi[q])
    # The size of the input an element's error scales with: its own, or its row's.
    size = xd.abs() if kind(spec) == "elementwise" else xd.abs().amax(dim=1, keepdim=True)
    tiny = torch.finfo(dtype).tiny * size.clamp_min(1.0) ** UNDERFLOW_POWER[dtype]

    out = []
    for q, t in truth.items():
        g = got[q].double()
        nearest = torch.minimum(torch.maximum(g, lo[q]), hi[q])
        scale = SCALE.get((spec.name, q), 0.0)
        scale = size.expand_as(t) if scale == "x" else torch.full_like(t, float(scale))
        lost = (g - t).abs() <= tiny
        # Before the backward-error allowance; kinks and lost underflows have their own rules.
        raw = torch.where(on_kink | lost, 0.0, _ulps(g, t, t, dtype, scale))
        excess = torch.where(lost, 0.0, _ulps(g, nearest, t, dtype, scale))
        fails = excess > bound(dtype, q)
        i = int(excess.flatten().argmax())
        row = i // t.shape[1]
        at = float(xd.flatten()[i]) if kind(spec) == "elementwise" else tuple(xd[row].tolist())
        out.append(Comparison(spec.name, dtype, q, t.numel(), float(raw.max()), float(excess.flatten()[i]),
                              int(fails.sum()), at, float(g.flatten()[i]), float(t.flatten()[i])))
    return out


def _ulps(got: Tensor, target: Tensor, truth: Tensor, dtype: torch.dtype, scale: Tensor) -> Tensor:
    """|got - target| in ulps of ``dtype`` at max(|target|, scale): 0 for the infinity a
    truth beyond the dtype's range rounds to, inf for a NaN on either side."""
    err = (got - target).abs().nan_to_num(nan=math.inf)
    err = torch.where(got.isinf() & (got == truth.to(dtype).double()), 0.0, err)
    err = torch.where(truth.isnan(), math.inf, err)
    return err / ulp(torch.maximum(target.abs(), scale), dtype)


def table(rows: list[Comparison]) -> str:
    return "\n".join(str(r) for r in rows)

