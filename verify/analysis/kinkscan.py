"""Kinks of a subject: where f changes slope, jumps, or has a non-finite gradient.

Three steps, each vectorised over every candidate and every channel at once:

1. Scan. f (or autograd's f') on a dyadic float64 grid (step 2**-10: 0, +-0.5, 3 and
   6 are grid points, so a NaN gradient exactly there shows), every channel, one
   vectorised pass (in chunks small enough to run single-threaded). A second
   difference is O(f'' h^2) where f is smooth, O(slope change * h) at a kink and
   O(jump) at a jump; the sum of two neighbouring ones (a kink between grid points
   spreads over both) standing far above the median of its block and above the
   rounding in the values marks a candidate, and so does an isolated non-finite value.
2. Localise. A second difference at scale d, SD(x) = g(x+d) - 2g(x) + g(x-d), is a
   tent of height (slope change) * d peaked on a kink and flips sign at a jump. Three
   rounds of samples narrow each bracket 11-fold each, then
   ``scipy.optimize.elementwise.find_root`` finds the jump's sign change or the root
   of the tent's slope SD(x+e) - SD(x-e), to about 1e-12 (see :func:`localise`).
3. Confirm. One-sided limits of g and of its derivative by Richardson extrapolation
   of one-sided differences that never touch x itself (h = 1e-4, 5e-5, ...), so a
   value jump or a location error of 1e-10 does not leak in. A candidate whose two
   sides agree is dropped.

The `kinks` check judges what this finds; :func:`kinks` and :func:`second_order_kinks`
(the spec's declared kinks, or these, remembered per subject and parameter setting) keep
the gradient checks' sample points away from them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import elementwise

from verify import tolerances as tol
from verify.analysis.precision import resolution
from verify.subject import Subject, value_rows

SCAN_RANGE = tol.KINK_SCAN_RANGE
SCAN_STEP = tol.KINK_SCAN_STEP
EPS64 = float(np.finfo(np.float64).eps)
# The subject is called on at most this many elements at a time, below torch's grain
# size (at::internal::GRAIN_SIZE = 32768), so every op runs on one thread. On a busy
# machine a multi-threaded op waits for its slowest thread: on a loaded 2-core box
# whole-grid calls took the registry's median from 0.01 s to 0.29 s (SReLU's from
# 0.15 s to 3.6 s); chunked, 0.014 s.
SERIAL_NUMEL = 16384


class Evaluator:
    """f (or, with ``derivative``, autograd's f') of one fresh instance of a subject at
    a parameter setting, on a 1-d array of values: a (channels, n) float64 array with
    every value put on every channel of the subject's layout. ``fn`` replaces the
    subject's own instance (the spec's built-in, called with the instance's parameters).

    With a spec that declares the same function on every channel (not ``channelwise``;
    a per-channel parameter is set to one value on all of them), the values are spread
    over the channels instead, a quarter on each of four, and come back as one row
    (``channels`` = 1): every channel is still scanned, at a quarter of the cost.

    ``resolution`` is the dtype whose rounding the values carry: float64's, or for the
    subject's own float64 instance the narrower one it computes at (an upcast to float32
    and back: :mod:`verify.analysis.precision`), so that its rounding is no kink."""

    def __init__(self, subject: Subject, params: dict[str, float] | None = None, derivative: bool = False,
                 dtype: torch.dtype = torch.float64, device: str = "cpu",
                 fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.fn = subject.instance(dtype, device, params) if fn is None else fn
        self.base = subject.base_shape
        self.derivative, self.dtype, self.device = derivative, dtype, device
        self.lanes = self.base[1] if len(self.base) >= 2 else 1
        # Only where each output comes from its own input: a gated spec's halves pair up.
        self.spread = (subject.spec is not None and subject.spec.elementwise and not subject.spec.channelwise
                       and self.lanes > 1)
        self.channels = 1 if self.spread else self.lanes
        own = fn is None and dtype == torch.float64
        self.resolution = resolution(subject, params, device) if own else torch.float64
        self.eps = float(tol.EPS[self.resolution])

    def tensor(self, values: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The values in the subject's layout, (1, C, n, 1...) or (n, C) or (n,): each
        value on every channel, or (spread) the values split over the channels, the
        last one repeated to fill them."""
        v = torch.as_tensor(np.asarray(values, dtype=np.float64)).to(self.device, self.dtype).reshape(-1)
        c = self.lanes
        if self.spread:
            m = -(-v.numel() // c)
            lanes = torch.cat([v, v[-1:].expand(m * c - v.numel())]).reshape(c, m)
        else:
            m = v.numel()
            lanes = v.reshape(1, m).expand(c, m)
        if len(self.base) >= 3:
            return lanes.reshape((1, c, m) + (1,) * (len(self.base) - 3)).contiguous()
        if len(self.base) == 2:
            return lanes.T.contiguous()
        return v.clone()

    def rows(self, t: torch.Tensor, n: int) -> np.ndarray:
        """Back from the layout to (channels, n) (more rows for the output of a
        shape-changing activation: see :func:`verify.subject.value_rows`)."""
        t = t.detach()
        if self.spread:
            t = t.reshape(self.lanes, -1) if len(self.base) >= 3 else t.T
            t = t.reshape(1, -1)[:, :n]
        elif len(self.base) >= 2:
            t = value_rows(t, 2 if len(self.base) >= 3 else 0, n)
        else:
            t = t.reshape(1, -1)
        return t.double().cpu().numpy()

    def __call__(self, values: np.ndarray | torch.Tensor) -> np.ndarray:
        if self.derivative:
            return self.both(values)[1]
        return self._chunked(values, lambda x, n: (self.rows(self._forward(x), n),))[0]

    def both(self, values: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """f and autograd's f' at the values, from one forward and one backward."""
        def run(x: torch.Tensor, n: int) -> tuple[np.ndarray, np.ndarray]:
            x.requires_grad_()
            with torch.enable_grad():
                y = self.fn(x.clone())  # a copy: an in-place subject must not overwrite the leaf
                g = None
                if y.requires_grad:
                    (g,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
            return self.rows(y, n), self.rows(torch.zeros_like(x) if g is None else g, n)

        f, df = self._chunked(values, run)
        return f, df

    def second(self, values: np.ndarray | torch.Tensor) -> np.ndarray:
        """autograd's f'' at the values (through the backward; 0 where it gives none,
        NaN where the backward cannot be differentiated)."""
        def run(x: torch.Tensor, n: int) -> tuple[np.ndarray]:
            x.requires_grad_()
            with torch.enable_grad():
                y = self.fn(x.clone())
                d2 = None
                if y.requires_grad:
                    (d1,) = torch.autograd.grad(y.sum(), x, create_graph=True)
                    if d1.requires_grad:
                        (d2,) = torch.autograd.grad(d1.sum(), x, allow_unused=True)
            if d2 is None:
                d2 = torch.zeros_like(x) if y.requires_grad else torch.full_like(x, math.nan)
            return (self.rows(d2, n),)

        return self._chunked(values, run)[0]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.fn(x.clone())

    def _chunked(self, values: np.ndarray | torch.Tensor,
                 run: Callable[[torch.Tensor, int], tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
        """``run`` on the laid-out values, SERIAL_NUMEL elements at a time."""
        flat = np.asarray(values, dtype=np.float64).reshape(-1)
        per_call = max(1, SERIAL_NUMEL // self.channels)
        parts = [run(self.tensor(v), v.size) for v in np.array_split(flat, max(1, -(-flat.size // per_call)))]
        return tuple(np.concatenate(rows, axis=1) for rows in zip(*parts, strict=True))

    def at(self, values: np.ndarray, channels: np.ndarray) -> np.ndarray:
        """g at values[i] on channel channels[i] (same shapes)."""
        values = np.asarray(values, dtype=np.float64)
        out = self(values.reshape(-1))
        flat = np.broadcast_to(channels, values.shape).reshape(-1)
        return out[flat, np.arange(flat.size)].reshape(values.shape)


@dataclass(frozen=True)
class Point:
    """A confirmed point of g on one channel: ``x`` snapped to a short number within
    the localisation error (0 rather than 3e-12), ``located`` as found."""

    x: float
    located: float
    channel: int
    cause: str  # "slope" | "jump" | "nonfinite"


# -- the range and the grid -----------------------------------------------------------
def scan_range(subject: Subject, params: dict[str, float] | None = None) -> tuple[float, float]:
    """[-R, R] inside the domain, R at least SCAN_RANGE and wider where the declared
    kinks or the parameters' magnitudes (a hinge at t_r = 15, softplus's threshold)
    reach further: R = max(SCAN_RANGE, 2 max|value| + 1), at most KINK_SCAN_MAX_RANGE."""
    scale = [abs(v) for v in _scale_values(subject, params) if math.isfinite(v)]
    r = min(max(SCAN_RANGE, 2 * max(scale, default=0.0) + 1), tol.KINK_SCAN_MAX_RANGE)
    lo, hi = subject.domain(params)
    margin = tol.KINK_DOMAIN_MARGIN
    return max(-r, lo + margin * max(1.0, abs(lo))), min(r, hi - margin * max(1.0, abs(hi)))


def _scale_values(subject: Subject, params: dict[str, float] | None) -> list[float]:
    if subject.spec is not None:
        values = {**subject.spec.defaults(), **(params or {})}
        return [*subject.spec.kink_points(values), *values.values()]
    fn = subject.instance(torch.float64)
    found: list[float] = []
    if isinstance(fn, torch.nn.Module):
        for module in fn.modules():
            found += [float(v) for v in vars(module).values() if isinstance(v, int | float) and not isinstance(v, bool)]
            for t in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
                if t.is_floating_point() and 0 < t.numel() <= 4096:
                    found.append(float(t.detach().abs().max()))
    return found


def grid(lo: float, hi: float, step: float = SCAN_STEP, channels: int = 1) -> np.ndarray:
    """Multiples of ``step`` (a power of two, made coarser when the grid times the
    channels would pass KINK_SCAN_MAX_POINTS) in [lo, hi]: exact binary fractions."""
    while (hi - lo) / step * channels > tol.KINK_SCAN_MAX_POINTS:
        step *= 2
    return np.arange(math.ceil(lo / step), math.floor(hi / step) + 1, dtype=np.float64) * step


def grid_values(subject: Subject, values: torch.Tensor, params: dict[str, float] | None = None,
                derivative: bool = False) -> np.ndarray:
    """f (or, with ``derivative``, autograd's f') at every value, for each channel:
    an array of shape (channels, len(values))."""
    return Evaluator(subject, params, derivative)(values)


# -- 1. scan ----------------------------------------------------------------------------
def candidates(xs: np.ndarray, row: np.ndarray, eps: float = EPS64) -> list[tuple[float, float, str]]:
    """Brackets (lo, hi, cause) on one row of grid values that may hold a kink or a
    jump ("change"), and grid points where an otherwise finite row is not
    ("nonfinite": lo = hi = the point, sqrt(x * x)'s gradient at 0). Longer non-finite
    runs (an overflow, a region outside the real domain) are :func:`nonfinite_runs`,
    no kinks. ``eps``: the resolution's epsilon, which sets the rounding floor."""
    found: list[tuple[float, float, str]] = []
    finite = np.isfinite(row)
    for run in _runs(~finite):
        if run.size <= tol.KINK_NONFINITE_RUN:
            found += [(float(xs[i]), float(xs[i]), "nonfinite") for i in run]
    if row.size < 8:
        return found
    y = np.where(finite, row, 0.0)
    sd = np.abs(y[2:] - 2 * y[1:-1] + y[:-2])
    sd = np.where(finite[2:] & finite[1:-1] & finite[:-2], sd, 0.0)
    # Rounding in the values scales with |f| and, where a formula cancels (x + |x|),
    # with the magnitude of its terms, which for an activation is about |x|.
    mag = np.abs(y) + np.abs(xs)
    size = mag[2:] + 2 * mag[1:-1] + mag[:-2]
    pair, floor = sd[:-1] + sd[1:], tol.KINK_NOISE_ULPS * eps * (size[:-1] + size[1:])
    background = _block_background(pair)
    strength = pair / (tol.KINK_SCAN_RATIO * background + floor + 1e-300)
    hits = np.flatnonzero(strength > 1.0)
    if hits.size:
        groups = np.split(hits, np.flatnonzero(np.diff(hits) > 2) + 1)
        groups = sorted(groups, key=lambda g: -float(strength[g].max()))[: tol.KINK_MAX_CANDIDATES]
        # pair[j] holds the second differences centred on xs[j + 1] and xs[j + 2].
        found += [(float(xs[g[0]]), float(xs[min(g[-1] + 3, xs.size - 1)]), "change") for g in groups]
    return found


def _runs(mask: np.ndarray) -> list[np.ndarray]:
    idx = np.flatnonzero(mask)
    return np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if idx.size else []


def nonfinite_runs(xs: np.ndarray, rows: np.ndarray) -> list[tuple[float, float]]:
    """[first, last] grid point of each run of non-finite values longer than an
    isolated point, on any channel: regions for the `stability` check, not kinks."""
    runs = _runs(~np.isfinite(rows).all(axis=0))
    return [(float(xs[r[0]]), float(xs[r[-1]])) for r in runs if r.size > tol.KINK_NONFINITE_RUN]


def _block_background(pair: np.ndarray, block: int = 32) -> np.ndarray:
    """The typical second difference around each point: the largest of the medians of
    its block of ``block`` points and of the two blocks either side (a kink lights up
    at most three points, so it moves no median)."""
    n = pair.size
    nb = -(-n // block)
    padded = np.concatenate([pair, np.full(nb * block - n, np.nan)])
    med = np.nanmedian(padded.reshape(nb, block), axis=1)
    wide = np.maximum(med, np.maximum(np.concatenate([med[:1], med[:-1]]), np.concatenate([med[1:], med[-1:]])))
    return np.repeat(wide, block)[:n]


# -- 2. localise ------------------------------------------------------------------------
def _probe(g: Evaluator, x: np.ndarray, ch: np.ndarray, delta: np.ndarray, e: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """At each x (rows of points, one row per bracket): SD(x) at scale delta, and the
    tent's slope SD(x + e) - SD(x - e); one call of g for all of them."""
    offsets = np.stack([-delta, 0 * delta, delta])  # (3, rows, 1)
    centres = np.stack([x, x + e, x - e])  # (3, rows, k)
    pts = centres[:, None] + offsets[None]  # (centre, offset, rows, k)
    v = g.at(pts, np.broadcast_to(ch, pts.shape))
    sd = v[:, 2] - 2 * v[:, 1] + v[:, 0]
    return np.nan_to_num(sd[0]), np.nan_to_num(sd[1] - sd[2])


def localise(g: Evaluator, brackets: Sequence[tuple[float, float]], channels: Sequence[int]) -> np.ndarray:
    """The kink or jump of g inside each bracket, to about 1e-12 (NaN where a bracket
    holds neither).

    SD(x) = g(x + d) - 2 g(x) + g(x - d) is a tent of height (slope change) * d peaked at
    a kink within d, and flips sign at a jump. Each stage samples KINK_LOCATE_SAMPLES
    points across the bracket, with d just wider than it, and keeps the sub-bracket
    where SD flips (a jump) or where the tent's slope SD(x+e) - SD(x-e) changes sign
    (its peak), padded by a sample spacing: about 11 times narrower. After
    KINK_LOCATE_STAGES stages ``scipy.optimize.elementwise.find_root`` finds the sign
    change. A jump of f'' (c) at the kink pulls the tent's peak by c d e / (slope
    change), which the last stage's d ~ 6e-6, e ~ 7e-7 make about 4e-12 c / change.
    """
    if not brackets:
        return np.empty(0)
    a = np.array([b[0] for b in brackets], dtype=np.float64)[:, None]
    b = np.array([b[1] for b in brackets], dtype=np.float64)[:, None]
    ch = np.asarray(channels, dtype=np.int64)[:, None]
    ok = np.ones(a.shape[0], dtype=bool)
    jump = np.zeros(a.shape[0], dtype=bool)
    sign = np.ones((a.shape[0], 1))
    k = tol.KINK_LOCATE_SAMPLES
    rows = np.arange(a.shape[0])
    for _ in range(tol.KINK_LOCATE_STAGES):
        s = np.maximum(b - a, 1e-300) / (k - 1)
        t = a + s * np.arange(k)[None, :]
        e = s / 2
        sd, slope = _probe(g, t, ch, (b - a) + 2 * e, e)
        peak = np.abs(sd).max(axis=1, keepdims=True)
        big = np.abs(sd) > 0.25 * peak
        flips = (np.sign(sd[:, :-1]) * np.sign(sd[:, 1:]) < 0) & big[:, :-1] & big[:, 1:]
        jump = flips.any(axis=1)
        sign = np.sign(sd[rows, np.abs(sd).argmax(axis=1)])[:, None]
        falls = (sign * slope[:, :-1] > 0) & (sign * slope[:, 1:] <= 0)
        j = np.where(jump, np.argmax(flips * np.abs(np.diff(sd, axis=1)), axis=1),
                     np.argmax(falls * sign * -np.diff(slope, axis=1), axis=1))
        ok &= np.where(jump, True, falls.any(axis=1)) & (peak[:, 0] > 0)
        a, b = t[rows, j][:, None] - s, t[rows, j + 1][:, None] + s
    # The last sub-bracket, padded by half a spacing rather than one.
    s = (b - a) / 3
    a, b = a + s / 2, b - s / 2
    e = s / 2
    delta = 4 * s

    def f(x: np.ndarray, c: np.ndarray, is_jump: np.ndarray, sg: np.ndarray, dl: np.ndarray,
          ee: np.ndarray) -> np.ndarray:
        sd, slope = _probe(g, x[:, None], c[:, None].astype(np.int64), dl[:, None], ee[:, None])
        return np.where(is_jump > 0, sd[:, 0], sg * slope[:, 0])

    out = np.full(a.shape[0], np.nan)
    if ok.any():
        res = elementwise.find_root(
            f, (a[ok, 0], b[ok, 0]),
            args=(ch[ok, 0].astype(np.float64), jump[ok].astype(np.float64), sign[ok, 0], delta[ok, 0], e[ok, 0]),
            tolerances={"xatol": tol.KINK_LOCATE_XTOL},
        )
        # An invalid bracket (status -1): the last stage's sub-bracket is the answer.
        out[ok] = np.where(res.status >= 0, res.x, (a[ok, 0] + b[ok, 0]) / 2)
    return out


def snap(x: float, within: float = tol.KINK_SNAP) -> float:
    """The shortest binary (down to 2**-12) or decimal (down to 1e-6) fraction within
    ``within`` of ``x``: a kink located at 3e-12 is the kink at 0, and the gradient is
    asked for there. Anything else stays as located."""
    for k in range(13):
        for cand in (round(x * 2**k) / 2**k, round(x, k) if k <= 6 else math.nan):
            if abs(cand - x) <= within:
                return float(cand)
    return x


# -- 3. confirm and measure -------------------------------------------------------------
@dataclass(frozen=True)
class Sides:
    """One-sided limits of g^(order) at each point (arrays), with error estimates, and
    the epsilon of the resolution g's values carry."""

    left: np.ndarray
    right: np.ndarray
    left_err: np.ndarray
    right_err: np.ndarray
    eps: float = EPS64


def one_sided(g: Evaluator, x: np.ndarray, channels: np.ndarray, orders: Sequence[int]) -> dict[int, Sides]:
    """The limits of g^(order) from the left and the right at each x, for each order:
    Richardson extrapolation to h -> 0 of the order-th forward (backward) difference on
    x + s h (1 .. order+1), h halving from KINK_RICHARDSON_H[order]. Points at x itself
    are never used, so the value there (a jump's, a NaN) does not matter. One call of g."""
    shape = np.shape(x)
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    channels = np.broadcast_to(channels, shape).reshape(-1)
    levels = tol.KINK_RICHARDSON_LEVELS
    sides = np.array([-1.0, 1.0])[:, None, None, None]
    # Offsets (order, side, level, step) of every point needed, evaluated at once.
    plan = {k: tol.KINK_RICHARDSON_H_AT[g.resolution][k] / 2.0 ** np.arange(levels) for k in orders}
    offsets = [sides * hs[None, :, None, None] * np.arange(1, k + 2)[None, None, :, None] for k, hs in plan.items()]
    flat = np.concatenate([o.reshape(-1) for o in offsets])
    vals = g.at(x[None, :] + flat[:, None], np.broadcast_to(channels, (flat.size, x.size)))
    out: dict[int, Sides] = {}
    start = 0
    for (k, hs), o in zip(plan.items(), offsets, strict=True):
        n = o.size
        v = vals[start:start + n].reshape(2, levels, k + 1, x.size)
        start += n
        coef = np.array([math.comb(k, j) * (-1) ** (k - j) for j in range(k + 1)], dtype=np.float64)
        # The k-th difference over x + s h (1 .. k+1), divided by (s h)^k.
        col = np.einsum("j,sljp->slp", coef, v) / (sides[:, :, :, 0] * hs[None, :, None]) ** k
        diagonal = [col[:, 0]]
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf near an overflow: NaN, judged as such
            for j in range(1, levels):
                col = col[:, 1:] + (col[:, 1:] - col[:, :-1]) / (2.0**j - 1)
                diagonal.append(col[:, 0])
            best, err = diagonal[-1], np.abs(diagonal[-1] - diagonal[-2])
        out[k] = Sides(best[0].reshape(shape), best[1].reshape(shape), err[0].reshape(shape), err[1].reshape(shape),
                       g.eps)
    return out


def differs(a: np.ndarray, b: np.ndarray, err: np.ndarray, rtol: float) -> np.ndarray:
    """Whether two one-sided limits differ beyond their error estimates and ``rtol``
    of their scale (a non-finite one differs from a finite one)."""
    scale = np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
    with np.errstate(invalid="ignore"):
        gap = np.abs(a - b)
        return np.where(np.isfinite(gap), gap > rtol * scale + tol.KINK_ERROR_FACTOR * err,
                        np.isfinite(a) != np.isfinite(b))


def is_jump(v: Sides, d: Sides, offset: np.ndarray | float = 0.0) -> np.ndarray:
    """Whether the value jumps: the one-sided limits differ by more than their error,
    KINK_JUMP_ULPS ulps of the value (at the resolution its values carry), and what the slope change (d) makes of an
    evaluation point ``offset`` + KINK_LOCATE_ERROR away from the true kink."""
    scale = np.maximum(1.0, np.maximum(np.abs(v.left), np.abs(v.right)))
    with np.errstate(invalid="ignore"):
        gap = np.nan_to_num(np.abs(v.left - v.right), nan=np.inf)
        misplaced = np.nan_to_num(np.abs(d.right - d.left)) * (np.abs(offset) + tol.KINK_LOCATE_ERROR)
    return differs(v.left, v.right, v.left_err + v.right_err, 0.0) & (
        gap > tol.KINK_JUMP_ULPS * v.eps * scale + misplaced)


def confirm(g: Evaluator, x: np.ndarray, channels: np.ndarray, located: np.ndarray) -> np.ndarray:
    """Cause per point: "jump", "slope" or "" (the two sides agree)."""
    if x.size == 0:
        return np.empty(0, dtype=object)
    s = one_sided(g, x, channels, (0, 1))
    slope = differs(s[1].left, s[1].right, s[1].left_err + s[1].right_err, tol.KINK_SLOPE_RTOL)
    return np.where(is_jump(s[0], s[1], x - located), "jump", np.where(slope, "slope", ""))


def find_points(g: Evaluator, xs: np.ndarray, rows: np.ndarray | None = None,
                known: Sequence[float] = ()) -> list[Point]:
    """Every confirmed point of g on the grid ``xs``, on each distinct channel (a
    channel whose values equal an earlier one's is not scanned again). A bracket that
    holds one of the ``known`` points is not localised again."""
    rows = g(xs) if rows is None else rows
    seen: set[bytes] = set()
    brackets: list[tuple[float, float]] = []
    chans: list[int] = []
    points: list[Point] = []
    known_arr = np.asarray(sorted(known), dtype=np.float64)
    for c, row in enumerate(rows):
        key = row.tobytes()
        if key in seen:
            continue
        seen.add(key)
        for lo, hi, cause in candidates(xs, row, g.eps):
            if cause == "nonfinite":
                points.append(Point(float(lo), float(lo), c, cause))
            elif not ((known_arr >= lo - tol.KINK_MATCH) & (known_arr <= hi + tol.KINK_MATCH)).any():
                brackets.append((lo, hi))
                chans.append(c)
    located = localise(g, brackets, chans)
    ok = np.isfinite(located)
    x = np.array([snap(float(v)) for v in located[ok]])
    ch = np.asarray(chans, dtype=np.int64)[ok]
    causes = confirm(g, x, ch, located[ok])
    points += [Point(float(xi), float(li), int(ci), str(cause))
               for xi, li, ci, cause in zip(x, located[ok], ch, causes, strict=True) if cause]
    return points


def merge(values: Sequence[float], within: float = tol.KINK_MATCH) -> list[float]:
    """Sorted values, those within ``within`` of the previous kept one dropped."""
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > within:
            out.append(v)
    return out


def scan_kinks(subject: Subject, lo: float | None = None, hi: float | None = None, step: float = SCAN_STEP,
               params: dict[str, float] | None = None, derivative: bool = False) -> list[float]:
    """Points where f has a kink, a jump or a non-finite gradient (with ``derivative``:
    where f' has a kink or a jump, so f'' jumps) on [lo, hi] (default: :func:`scan_range`),
    each localised to about 1e-12, on the union of the channels."""
    try:
        r_lo, r_hi = scan_range(subject, params)
        f = Evaluator(subject, params, derivative)
        xs = grid(r_lo if lo is None else lo, r_hi if hi is None else hi, step, f.channels)
        values, slopes = f.both(xs)
        found = [p.x for p in find_points(f, xs, slopes if derivative else values)]
        # A NaN gradient where f is finite (sqrt(x * x) at 0) is a point to avoid too;
        # so, for the second order, is a NaN f'' where f' is finite (|x|^1.5 at 0, where
        # f' has a vertical tangent and pow's double backward gives 0 * inf).
        inner, outer = (slopes, f.second(xs)) if derivative else (values, slopes)
        if inner.shape == outer.shape:
            alone = (~np.isfinite(outer) & np.isfinite(inner)).any(axis=0)
        else:  # a shape-changing subject: more output rows than gradient rows
            alone = (~np.isfinite(outer)).any(axis=0) & np.isfinite(inner).all(axis=0)
        for run in _runs(alone):
            if run.size <= tol.KINK_NONFINITE_RUN:
                found += [float(v) for v in xs[run]]
    except Exception:
        return []
    return merge(found)


def kinks(subject: Subject, params: dict[str, float] | None = None) -> list[float]:
    """Known kinks: the spec's, or those found by scanning (at ``params``); for a gated
    subject, those of either half's view (:mod:`verify.halves`); for a vector-valued one,
    those on the line of vectors of equal entries (its ties are kept apart by the
    strategies)."""
    if subject.spec is not None:
        return subject.spec.kink_points({**subject.overrides, **(params or {})} or None)
    return _remembered(subject, "kinks", params, derivative=False)


def second_order_kinks(subject: Subject, params: dict[str, float] | None = None) -> list[float]:
    """Where f' has a kink (f'' jumps): ELU and CELU at 0, softsign at 0. Finite
    differences of the backward must not straddle these either."""
    return _remembered(subject, "second_order_kinks", params, derivative=True)


def _remembered(subject: Subject, what: str, params: dict[str, float] | None, derivative: bool) -> list[float]:
    from verify.halves import views

    key = (what, *sorted((params or {}).items()))
    if key not in subject.memo:
        kind = subject.layout.kind
        if kind == "gated":
            found = [x for view in views(subject) for x in _remembered(view, what, params, derivative)]
            subject.memo[key] = merge(found)
        else:  # a vector-valued one along the line of equal entries (CReLU's kink at 0)
            subject.memo[key] = scan_kinks(subject, params=params, derivative=derivative)
    return list(subject.memo[key])


def curve(subject: Subject, points: int = 241) -> dict[str, object]:
    """f and f' on a range that shows the kinks, for the report's plot: x, then one
    list per channel that differs from the first (alternating activations show two).
    A gated subject's is its first half's (b held at 1, said in ``variable``); a
    vector-valued or mixing one has no curve of one variable (ValueError, the reason)."""
    from verify.halves import views

    kind = subject.layout.kind
    if kind == "gated":
        view = views(subject)[0]
        return {**curve(view, points), "variable": view.label}
    if kind != "elementwise":
        raise ValueError(f"no curve of one variable: {subject.not_positionwise}")
    found = kinks(subject)
    finite = [abs(k) for k in found if np.isfinite(k)]
    half = max(6.0, 1.5 * max(finite, default=0.0))
    lo, hi = subject.domain()
    xs = torch.linspace(max(-half, lo + 1e-3), min(half, hi - 1e-3), points, dtype=torch.float64)
    f = grid_values(subject, xs)
    df = grid_values(subject, xs, derivative=True)
    keep = [0, *[c for c in range(1, f.shape[0]) if not np.allclose(f[c], f[0], equal_nan=True)][:1]]
    return {
        "x": xs.tolist(),
        "f": [f[c].tolist() for c in keep],
        "df": [df[c].tolist() for c in keep],
        "channels": keep,
        "kinks": found,
    }
