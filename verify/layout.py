"""What a subject's input looks like and how its outputs depend on it, found once.

A :class:`Layout` says which dimension holds the features (1, as convolutions lay them
out, or the last, as transformer blocks do), the ranks the subject accepts, how wide the
feature dimension is, and the subject's *kind*:

* ``elementwise``: one output per input position, from that position alone;
* ``gated``: the feature dimension is split into halves a and b (``x.chunk(2, dim)``)
  and each output depends on a_i and b_i (GLU, ReGLU, GeGLU, SwiGLU);
* ``vector``: each output depends on the whole vector along the feature dimension and
  on nothing outside it (softmax, sparsemax, entmax, maxout, a concatenation);
* ``mixing``: anything else (outputs depend on other samples or positions).

It is inferred by probing (:func:`infer`): small inputs of each candidate shape (the
parameters' sizes and twice them as feature widths, features at dimension 1 and last,
rank 3 first), the output's shape, and which outputs move when one input moves. A user
states it where inference cannot tell (a subject that mixes on purpose): ``--layout
KIND[:DIM[:WIDTH]]`` on the command line, or a ``verify_layout`` attribute with the same
text on the class, function or instance. The checks see every subject with its features
at dimension 1 (:meth:`Layout.to_canonical`), whatever its own layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

KINDS = ("elementwise", "gated", "vector", "mixing")
# Feature width tried when no parameter fixes one: even, so that gated halves split
# evenly and alternating-channel activations show both kinds, and more than one.
DEFAULT_WIDTH = 4
# Sizes of the other dimensions of a probe: the batch, and the positions per feature.
PROBE_BATCH, PROBE_LENGTH = 2, 3
# A move of an output smaller than this (relative, in float64) is rounding, not a
# dependence: a softmax stabilised by the max of the whole tensor is shift-invariant, and
# the max of other vectors moves its outputs only by a few ulps.
DEPENDENCE_RTOL = 1e-12
# A domain's edge lies among ordinary inputs, and f beside it is far from overflowing;
# NaN beyond an edge elsewhere is an overflow, stability's business.
DOMAIN_EDGE_MAX, DOMAIN_VALUE_MAX = 100.0, 1e150
# Magnitudes at which the domain is probed (both signs, and 0).
DOMAIN_PROBE = (0.0, 1e-6, 1e-3, 0.1, 0.5, 1.0, 2.0, 10.0, 1e2, 1e4)

Call = Callable[[Tensor], Any]


class LayoutError(Exception):
    """No input layout the probes know is accepted, or a stated one is malformed."""


@dataclass(frozen=True)
class Layout:
    kind: str = "elementwise"
    # The subject's own feature dimension: 1 or -1 (the last).
    dim: int = 1
    # The input's size along the feature dimension, and the output's.
    width: int = DEFAULT_WIDTH
    out_width: int = DEFAULT_WIDTH
    # Ranks on which the subject gives the output this layout expects.
    ranks: tuple[int, ...] = (2, 3, 4, 5)
    # A small input shape it accepts, in its own layout.
    shape: tuple[int, ...] = (PROBE_BATCH, DEFAULT_WIDTH, PROBE_LENGTH)
    # Where f is defined, found on the float64 line (elementwise subjects only).
    domain: tuple[float, float] = (-math.inf, math.inf)
    stated: bool = False

    # -- the checks' view: features at dimension 1 ------------------------------------
    @property
    def moved(self) -> bool:
        """Whether the features sit last in a shape of rank 3 or more (then the checks'
        inputs are moved to dimension 1 and back around every call)."""
        return self.dim == -1 and len(self.shape) >= 3

    def to_canonical(self, shape: Sequence[int]) -> tuple[int, ...]:
        shape = tuple(shape)
        if self.moved and len(shape) >= 3:
            return (shape[0], shape[-1], *shape[1:-1])
        return shape

    @property
    def base_shape(self) -> tuple[int, ...]:
        return self.to_canonical(self.shape)

    def adapt(self, fn: Call) -> Call:
        """``fn`` called with the checks' layout (features at dimension 1): its own
        layout in, back out. A module stays the same module (its parameters keep their
        names), with hooks."""
        if not self.moved:
            return fn
        if isinstance(fn, torch.nn.Module):
            fn.register_forward_pre_hook(lambda _m, args: (to_last(args[0]), *args[1:]))
            fn.register_forward_hook(lambda _m, _args, out: to_first(out))
            return fn

        def moved(x: Tensor) -> Any:
            return to_first(fn(to_last(x)))

        return moved

    # -- what it says ----------------------------------------------------------------
    def describe(self) -> str:
        where = "the last dimension" if self.dim == -1 and len(self.shape) > 1 else "dimension 1"
        if len(self.shape) == 1:
            where = "dimension 0"
        ranks = ", ".join(map(str, self.ranks)) or "none"
        text = {
            "elementwise": f"elementwise, features along {where} ({self.width})",
            "gated": f"gated: halves of {where} ({self.width} -> {self.out_width}), each output from a_i and b_i",
            "vector": f"vector-valued along {where} ({self.width} -> {self.out_width})",
            "mixing": f"mixing: outputs depend on inputs beyond one vector along {where}",
        }[self.kind]
        text += f"; ranks {ranks}"
        lo, hi = self.domain
        if math.isfinite(lo) or math.isfinite(hi):
            text += f"; domain {'[' if math.isfinite(lo) else '('}{lo:g}, {hi:g}{']' if math.isfinite(hi) else ')'}"
        return text + (" (stated)" if self.stated else "")

    def to_json(self) -> dict[str, Any]:
        lo, hi = self.domain
        return {"kind": self.kind, "dim": self.dim, "width": self.width, "out_width": self.out_width,
                "ranks": list(self.ranks), "input_shape": list(self.shape),
                "domain": [_num(lo), _num(hi)], "stated": self.stated, "text": self.describe()}


def _num(v: float) -> float | str:
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")


def to_last(x: Any) -> Any:
    return x.movedim(1, -1) if isinstance(x, Tensor) and x.dim() >= 3 else x


def to_first(y: Any) -> Any:
    return y.movedim(-1, 1) if isinstance(y, Tensor) and y.dim() >= 3 else y


# -- stating a layout ---------------------------------------------------------------------
def parse(text: str) -> dict[str, Any]:
    """``KIND[:DIM[:WIDTH]]`` (``gated:-1``, ``vector:1``, ``elementwise:-1:64``) as the
    facts it states. Raises :class:`LayoutError` with a one-line reason."""
    parts = [p.strip() for p in str(text).split(":")]
    if not parts[0] or parts[0] not in KINDS or len(parts) > 3:
        raise LayoutError(f"a layout is KIND[:DIM[:WIDTH]] with KIND one of {', '.join(KINDS)}; got {text!r}")
    stated: dict[str, Any] = {"kind": parts[0]}
    if len(parts) > 1 and parts[1]:
        if parts[1] not in ("1", "-1", "last"):
            raise LayoutError(f"a layout's DIM is 1 or -1 (last); got {parts[1]!r} in {text!r}")
        stated["dim"] = 1 if parts[1] == "1" else -1
    if len(parts) > 2:
        try:
            stated["width"] = int(parts[2])
        except ValueError:
            stated["width"] = 0
        if stated["width"] < 1 or (stated["kind"] == "gated" and stated["width"] % 2):
            raise LayoutError(f"a layout's WIDTH is a positive whole number (even when gated); got {parts[2]!r}")
    return stated


# -- inferring it -------------------------------------------------------------------------
def probe_values(shape: Sequence[int]) -> Tensor:
    """Distinct float64 values in [-2, 2] of ``shape``, in a scrambled order (no ties in
    any vector, no monotone run along any dimension)."""
    n = int(torch.Size(tuple(shape)).numel())
    v = torch.linspace(-2, 2, n + 2, dtype=torch.float64)[1:-1]
    order = (torch.arange(n) * 7919) % max(n, 1) if n % 7919 else torch.arange(n)
    return v[order].reshape(tuple(shape))


def candidates(sizes: Sequence[int], stated: dict[str, Any]) -> list[tuple[int, int, int]]:
    """(dim, rank, width) to try, most usual first: rank 3, then 2, 4, 5 and 1; features
    at dimension 1, then last; the default width, each parameter size and twice it (a
    gated output bound to a parameter takes an input twice as wide), then twice the
    default."""
    widths: list[int] = []
    # The default first: a parameter that binds to no dimension (a kernel activation's
    # dictionary of 1000 coefficients) must not make every probe 1000 features wide.
    for w in [stated.get("width"), DEFAULT_WIDTH, *(s for n in sizes for s in (n, 2 * n)), 2 * DEFAULT_WIDTH]:
        if w and w not in widths:
            widths.append(w)
    dims = [stated["dim"]] if "dim" in stated else [1, -1]
    out = []
    for rank in (3, 2, 4, 5, 1):
        for dim in dims:
            if rank <= 2 and dim == -1 and 1 in dims:
                continue  # the same shapes as dimension 1
            out += [(dim, rank, w) for w in widths]
    return out


def shape_of(dim: int, rank: int, width: int) -> tuple[int, ...]:
    if rank == 1:
        return (width,)
    rest = [PROBE_BATCH] + [PROBE_LENGTH] * (rank - 2)
    return (rest[0], width, *rest[1:]) if dim == 1 else (*rest, width)


def infer(call: Call, sizes: Sequence[int] = (), stated: dict[str, Any] | None = None) -> Layout:
    """The layout of a subject that ``call`` runs (a fresh float64 instance, no grad).
    ``sizes`` are its trainable parameters' feature sizes; ``stated`` what a user said."""
    stated = dict(stated or {})
    errors: list[str] = []
    # A subject that mixes at one rank may not at another (nn.Softmax() with no dim
    # normalises over dimension 0 of a rank-3 input, over dimension 1 otherwise): the
    # first layout that does not mix is taken, the first that mixes only failing that.
    mixing: Layout | None = None
    for dim, rank, width in candidates(sizes, stated):
        shape = shape_of(dim, rank, width)
        x = probe_values(shape)
        try:
            y = call(x.clone())
        except Exception as exc:  # the subject decides what it accepts
            errors.append(f"{shape}: {type(exc).__name__}: {str(exc).strip()[:80]}")
            continue
        if not (isinstance(y, Tensor) and y.is_floating_point() and y.dim() == x.dim()):
            errors.append(f"{shape}: returned {type(y).__name__} {tuple(getattr(y, 'shape', ()))}")
            continue
        found = classify(call, x, y, dim)
        if found is None:
            errors.append(f"{shape}: returned {tuple(y.shape)}")
            continue
        kind, kdim = found
        if "kind" in stated and stated["kind"] != kind and stated["kind"] != "mixing":
            errors.append(f"{shape}: behaves as {kind}, not {stated['kind']}")
            continue
        kind = stated.get("kind", kind)
        if rank == 1:
            kdim = -1
        elif kind == "elementwise":
            kdim = dim  # the dimension parameters bind to (or 1, when none do)
        axis = kdim % x.dim()
        layout = Layout(kind=kind, dim=kdim if rank > 1 else 1, width=x.shape[axis], out_width=y.shape[axis],
                        shape=tuple(x.shape), stated=bool(stated))
        # The width along the kind's dimension may differ from the probe's (softmax
        # along the last dimension of a rank-3 probe of width 4 at dimension 1).
        layout = replace(layout, ranks=accepted_ranks(call, layout))
        if layout.kind == "mixing" and not stated:
            mixing = mixing or layout
            continue
        if rank == 1 and layout.kind != "elementwise" and mixing is not None:
            continue  # a 1-d input is one vector whatever the subject does
        return layout
    if mixing is not None:
        return mixing
    raise LayoutError(f"no input shape accepted ({'; '.join(errors)[:300]})")


def classify(call: Call, x: Tensor, y: Tensor, dim: int) -> tuple[str, int] | None:
    """The kind and its dimension (1 or -1) from an input, its output and which outputs
    move when each input element moves; None when the shapes relate in no way the kinds
    know (halves of an odd width broadcast together)."""
    diff = [d for d in range(x.dim()) if x.shape[d] != y.shape[d]]
    if len(diff) > 1:
        return None
    deps = dependencies(call, x, y)
    if deps is None:  # the output moves on its own (a stochastic subject): judged elementwise
        return ("elementwise", dim) if not diff else None
    idx_in = _indices(x.shape)
    idx_out = _indices(y.shape)
    dims = _feature_dims(x.dim(), dim)
    if not diff:
        if bool(torch.all(~deps | torch.eye(deps.shape[0], dtype=torch.bool))):
            return "elementwise", dim
        for d in dims:
            if _within(deps, idx_out, idx_in, d):
                return "vector", _signed(d, x.dim())
        return "mixing", dim
    d = diff[0]
    if d not in dims:
        return None
    n, m = x.shape[d], y.shape[d]
    if n == 2 * m and _gated(deps, idx_out, idx_in, d, m):
        return "gated", _signed(d, x.dim())
    if (n % m == 0 or m % n == 0) and _within(deps, idx_out, idx_in, d):
        return "vector", _signed(d, x.dim())
    return ("mixing", _signed(d, x.dim())) if n % m == 0 or m % n == 0 else None


def _feature_dims(rank: int, dim: int) -> list[int]:
    if rank == 1:
        return [0]
    first, last = 1, rank - 1
    return [dim % rank] + [d for d in (first, last) if d != dim % rank]


def _signed(d: int, rank: int) -> int:
    return -1 if d == rank - 1 else d


def dependencies(call: Call, x: Tensor, y: Tensor) -> Tensor | None:
    """A (outputs, inputs) boolean matrix: whether output j moves when input i is
    nudged (NaNs moving count). None when a second call on the same input gives
    another output."""
    with torch.no_grad():
        again = call(x.clone())
        if not _same(again, y):
            return None
        flat = x.flatten()
        cols = []
        for i in range(flat.numel()):
            nudged = flat.clone()
            nudged[i] += 0.3125  # exact in binary: moves every value by the same amount
            moved = call(nudged.reshape(x.shape)).flatten()
            cols.append(~_eq(moved, y.flatten(), DEPENDENCE_RTOL))
    return torch.stack(cols, dim=1)


def _same(a: Any, b: Tensor) -> bool:
    return isinstance(a, Tensor) and a.shape == b.shape and bool(_eq(a.flatten(), b.flatten()).all())


def _eq(a: Tensor, b: Tensor, rtol: float = 0.0) -> Tensor:
    close = (a - b).abs() <= rtol * torch.maximum(a.abs(), b.abs()).clamp(min=1.0)
    return (a == b) | (torch.isnan(a) & torch.isnan(b)) | close


def _indices(shape: Sequence[int]) -> Tensor:
    """Every position's index, one row per element in row-major order."""
    grids = torch.meshgrid(*[torch.arange(n) for n in shape], indexing="ij")
    return torch.stack([g.flatten() for g in grids], dim=1)


def _others(idx: Tensor, d: int) -> Tensor:
    return torch.cat([idx[:, :d], idx[:, d + 1:]], dim=1)


def _within(deps: Tensor, idx_out: Tensor, idx_in: Tensor, d: int) -> bool:
    """Every dependency stays inside one vector along ``d``."""
    same = (_others(idx_out, d)[:, None, :] == _others(idx_in, d)[None, :, :]).all(-1)
    return bool(torch.all(~deps | same))


def _gated(deps: Tensor, idx_out: Tensor, idx_in: Tensor, d: int, m: int) -> bool:
    """Output k along ``d`` depends on inputs k and k + m only, and on each somewhere."""
    same = (_others(idx_out, d)[:, None, :] == _others(idx_in, d)[None, :, :]).all(-1)
    k_out, k_in = idx_out[:, d][:, None], idx_in[:, d][None, :]
    first, second = same & (k_in == k_out), same & (k_in == k_out + m)
    return bool(torch.all(~deps | first | second)) and bool((deps & first).any()) and bool((deps & second).any())


def accepted_ranks(call: Call, layout: Layout) -> tuple[int, ...]:
    """The ranks (1 to 5) on which the subject gives this layout's output."""
    if len(layout.shape) == 1:
        return (1,)
    ranks = []
    for rank in (2, 3, 4, 5):
        shape = shape_of(layout.dim, rank, layout.width)
        axis = 1 if layout.dim == 1 else rank - 1
        want = list(shape)
        want[axis] = layout.out_width
        try:
            y = call(probe_values(shape))
        except Exception:  # the subject decides what it accepts
            continue
        if isinstance(y, Tensor) and list(y.shape) == want:
            ranks.append(rank)
    return tuple(ranks) or (len(layout.shape),)


def infer_domain(call: Call, layout: Layout) -> tuple[float, float]:
    """Where an elementwise subject is defined: a half-line where f is NaN at every
    probed value in float64 (sqrt and log below 0) lies outside it, up to the edge
    found by bisection (snapped to 0 within 1e-12). The whole line otherwise."""
    if layout.kind != "elementwise":
        return (-math.inf, math.inf)
    pos = [v for v in DOMAIN_PROBE if v > 0]
    xs = [-v for v in reversed(pos)] + [0.0] + pos
    nan = [_nan_at(call, layout, v) for v in xs]
    if all(nan) or not any(nan):
        return (-math.inf, math.inf)
    k = nan.index(False)
    if all(nan[:k]) and not any(nan[k:]) and k > 0:
        edge = _edge(call, layout, xs[k - 1], xs[k], nan_below=True)
        return (edge, math.inf) if _an_edge(call, layout, edge, 1.0) else (-math.inf, math.inf)
    k = len(nan) - nan[::-1].index(False)  # one past the last defined value
    if not any(nan[:k]) and all(nan[k:]):
        edge = _edge(call, layout, xs[k - 1], xs[k], nan_below=False)
        return (-math.inf, edge) if _an_edge(call, layout, edge, -1.0) else (-math.inf, math.inf)
    return (-math.inf, math.inf)


def _an_edge(call: Call, layout: Layout, edge: float, side: float) -> bool:
    """Whether NaN beyond ``edge`` marks a domain, not an overflow: the edge lies among
    ordinary inputs (|x| < DOMAIN_EDGE_MAX) and f is far from overflowing beside it
    (exp(x) - exp(x) is NaN beyond 709.78 because each term overflowed)."""
    if abs(edge) >= DOMAIN_EDGE_MAX:
        return False
    inside = edge + side * 1e-6 * max(1.0, abs(edge))
    try:
        with torch.no_grad():
            y = call(torch.full(layout.shape, inside, dtype=torch.float64))
    except Exception:  # refused beside the edge too: no domain to speak of
        return False
    return isinstance(y, Tensor) and bool((y.abs() < DOMAIN_VALUE_MAX).all())


def _nan_at(call: Call, layout: Layout, v: float) -> bool:
    try:
        with torch.no_grad():
            y = call(torch.full(layout.shape, v, dtype=torch.float64))
    except Exception:  # refused there: not a point where it is defined
        return True
    return isinstance(y, Tensor) and bool(torch.isnan(y).all())


def _edge(call: Call, layout: Layout, lo: float, hi: float, nan_below: bool) -> float:
    """The boundary between NaN and defined values in [lo, hi], by bisection."""
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if _nan_at(call, layout, mid) == nan_below:
            lo = mid
        else:
            hi = mid
    edge = hi if nan_below else lo
    return 0.0 if abs(edge) < 1e-12 else edge


def allowed(kind: str, in_shape: Sequence[int], out_shape: Sequence[int], d: int = 1) -> Tensor:
    """An (outputs, inputs) boolean matrix: which outputs a kind lets an input move, with
    the features along ``d`` (the checks' layout: 1, or 0 for a 1-d input)."""
    idx_in, idx_out = _indices(in_shape), _indices(out_shape)
    if kind == "elementwise" or len(in_shape) == 0:
        return (idx_out[:, None, :] == idx_in[None, :, :]).all(-1)
    d = d % len(in_shape)
    same = (_others(idx_out, d)[:, None, :] == _others(idx_in, d)[None, :, :]).all(-1)
    if kind == "gated":
        m = out_shape[d]
        k_out, k_in = idx_out[:, d][:, None], idx_in[:, d][None, :]
        return same & ((k_in == k_out) | (k_in == k_out + m))
    return same
