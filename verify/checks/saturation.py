"""`saturation`: where the gradient vanishes, explodes, is exactly zero or is not finite.

For each dtype (float64, float32, bfloat16, float16) the subject's own f' (its backward,
in that dtype, on channel 0 at the default parameters) is scanned over a grid that is
log-spaced on both sides out to the dtype's largest value, plus a uniform grid near 0.
Every point is sorted into:

* ``vanishing``: |f'| < the vanishing threshold (1e-3 unless the options say otherwise);
* ``exploding``: a finite |f'| > the exploding threshold (1e3);
* ``zero_grad``: f' exactly 0 because of floating point: in float32, bfloat16 and float16
  where float64 has a nonzero gradient at the same input (tanh's 1 - tanh(x)^2 from
  |x| = 9.01 in float32), in float64 where the gradient decays through the vanishing
  threshold before it hits 0 (rather than jumping to 0 at a kink);
* ``flat``: f' exactly 0 otherwise, a flat piece of the function (ReLU below 0);
* ``nonfinite``: the value or the gradient is NaN or infinite.

Where f' changes sign between two grid points its zero is located and added. The
boundaries of each kind of region are then located between grid points with scipy's
elementwise root finder (Chandrupatla's bracketing method), all at once, to the dtype's
resolution. The dead fraction P(|f'(x)| < threshold) for x ~ N(0, sigma^2) is the
Gaussian measure of the vanishing intervals, integrated exactly (scipy's ndtr).

Options (``ctx.options["saturation"]``): the thresholds ``vanishing`` and ``exploding``,
and the ``sigmas`` of the dead fraction.

The check is a diagnostic: it fails only when the activation is dead (f' exactly 0
at every float64 point scanned: no gradient flows through it at all) or when a spec's
declared ``saturates`` is contradicted in float32 within its stable range. A low-precision dtype whose gradient
vanishes where float64's is large is a finding.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.optimize.elementwise import find_root
from scipy.special import ndtr

from verify import tolerances as tol
from verify.checks._edges import evaluate
from verify.checks._halves import by_halves
from verify.checks._layout import channel_dependent, dtype_name
from verify.checks.base import Context, Outcome, check, failed, one_thread, passed, skipped
from verify.subject import Subject

KINDS = ("vanishing", "exploding", "zero", "nonfinite")
# How far inside (> 0) or outside (< 0) a region a point is, capped: a bracket's ends
# must have finite values of opposite sign.
_CAP = 50.0


@check("saturation", cost_s=0.05)
def check_saturation(subject: Subject, ctx: Context) -> Outcome:
    """Vanishing, exploding, exactly-zero and non-finite gradient regions per dtype; dead fractions."""
    if subject.layout.kind == "gated":
        return by_halves(check_saturation, subject, ctx)
    if subject.not_positionwise is not None:
        return skipped(subject.not_positionwise)
    opts = ctx.options.get("saturation", {})
    vanish = float(opts.get("vanishing", tol.SATURATION_VANISHING))
    explode = float(opts.get("exploding", tol.SATURATION_EXPLODING))
    sigmas = tuple(float(s) for s in opts.get("sigmas", tol.DEAD_FRACTION_SIGMAS))
    dtypes = tuple(dict.fromkeys((*tol.ALL_FLOAT, *ctx.dtypes)))
    spec = subject.spec
    stable = spec.properties.stable_range if spec is not None else tol.STABLE_RANGE

    reference = _Scan(subject, torch.float64, ctx.device, vanish, explode)
    records: dict[str, dict[str, Any]] = {}
    findings: list[str] = []
    dead: dict[torch.dtype, tuple[bool, bool]] = {}
    for dt in dtypes:
        scan = reference if dt == torch.float64 else _Scan(subject, dt, ctx.device, vanish, explode)
        with one_thread():  # small tensors: see one_thread
            record = scan.run(reference, sigmas)
        name = dtype_name(dt)
        lost = record.pop("_lost")
        dead[dt] = record.pop("_dead")
        if lost is not None and abs(lost[0]) <= stable:
            findings.append(f"{name}: |f'| = {lost[1]:.3g} < {vanish:g} at x = {lost[0]:.6g}, where float64 has "
                            f"|f'| = {lost[2]:.3g}: the gradient is lost to {name}")
        records[name] = record

    details: dict[str, Any] = {
        "thresholds": {"vanishing": vanish, "exploding": explode},
        "sigmas": list(sigmas),
        "channel": 0,
        "params": spec.defaults() if spec is not None else None,
        "stable_range": stable,
        "declared_saturates": spec.properties.saturates if spec is not None else None,
        "dtypes": records,
    }
    if channel_dependent(subject):
        details["channel_note"] = "the function differs between channels; channel 0 is scanned"

    no_gradient, constant = dead[torch.float64]
    if no_gradient:
        what = "constant output" if constant else "a piecewise-constant output"
        points = records["float64"]["points"]
        return failed(f"{what}, no gradient flows: f' = 0 at every one of the {points} float64 points scanned "
                      f"(|x| up to {records['float64']['max']:.3g}, both signs)", details=details,
                      smallest_input=[0.0], findings=findings)

    f32 = records.get("float32")
    declared = details["declared_saturates"]
    if f32 is not None and declared is not None:
        reach = min(stable, float(torch.finfo(torch.float32).max))
        inside = [iv for iv in f32["vanishing"] if iv[0] <= reach and iv[1] >= -reach]
        if declared is False and inside:
            lo, hi = inside[0]
            x = min(max(0.0, lo), hi) if lo <= 0 <= hi else (lo if lo > 0 else hi)
            return failed(f"declares no saturation, but in float32 |f'| < {vanish:g} on {_describe(inside)} "
                          f"(within the stable range |x| <= {reach:g})", details=details,
                          smallest_input=[x], findings=findings)
        if declared is True and not inside:
            return failed(f"declares saturation, but in float32 |f'| >= {vanish:g} everywhere on "
                          f"|x| <= {reach:g}", details=details, findings=findings)

    f64 = records["float64"]
    parts = [f"dead fraction at sigma = 1: {f64['dead_fraction'].get('1', math.nan):.4g} (float64)"]
    for name in ("float32", "float64"):
        r = records.get(name)
        if r is None:
            continue
        parts.append(f"{name} |f'| < {vanish:g} on {_describe(r['vanishing'])}" if r["vanishing"]
                     else f"{name} |f'| >= {vanish:g} everywhere")
        if r["zero_grad"]:
            parts.append(f"{name} f' = 0 by rounding on {_describe(r['zero_grad'])}")
    return passed("; ".join(parts), details=details, findings=findings)


def _describe(intervals: list[list[float]], limit: int = 3) -> str:
    text = ", ".join(f"[{lo:.4g}, {hi:.4g}]" for lo, hi in intervals[:limit])
    return text + (f" and {len(intervals) - limit} more" if len(intervals) > limit else "")


def _grid(dt: torch.dtype, lo: float, hi: float) -> np.ndarray:
    """The scan's x: log-spaced |x| out to the dtype's max on both sides, 0, and a
    uniform grid near 0; each representable in ``dt``, ascending, inside the domain."""
    top = float(torch.finfo(dt).max)
    per = tol.SATURATION_POINTS_PER_DECADE
    k = np.arange(math.ceil(math.log10(tol.SATURATION_MIN_ABS) * per), math.floor(math.log10(top) * per) + 1)
    mags = np.append(10.0 ** (k / per), top)
    step, reach = tol.SATURATION_DENSE_STEP, tol.SATURATION_DENSE_RANGE
    xs = np.concatenate([-mags, [0.0], mags, np.arange(-reach, reach + step / 2, step)])
    xs = _round(xs, dt)
    return xs[(xs > lo) & (xs < hi)]


def _round(x: np.ndarray, dt: torch.dtype) -> np.ndarray:
    return np.unique(torch.from_numpy(np.asarray(x, dtype=np.float64)).to(dt).double().numpy())


class _Scan:
    """One subject in one dtype."""

    def __init__(self, subject: Subject, dt: torch.dtype, device: str, vanish: float, explode: float) -> None:
        self.subject, self.dt, self.device = subject, dt, device
        self.vanish, self.explode = vanish, explode
        self.fn = subject.instance(dt, device)
        for _, p in subject.parameters(self.fn):
            p.requires_grad_(False)  # only the input gradient is scanned
        self.lo, self.hi = subject.domain()
        self.eps = float(torch.finfo(dt).eps)

    def values(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """f and f' of channel 0 at xs (each rounded to the dtype), as float64."""
        x = torch.from_numpy(np.ascontiguousarray(xs, dtype=np.float64)).to(self.device, self.dt)
        y, g = evaluate(self.subject, self.fn, x, grad=True)
        assert g is not None
        return y[0].double().cpu().numpy(), g[0].double().cpu().numpy()

    def masks(self, f: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
        finite = np.isfinite(f) & np.isfinite(g)
        a = np.abs(g)
        return {"vanishing": finite & (a < self.vanish), "exploding": finite & (a > self.explode),
                "zero": finite & (g == 0), "nonfinite": ~finite}

    def depth(self, xs: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """How far inside region ``kind`` (an index into KINDS) each point is: > 0 inside,
        < 0 outside; continuous in |f'| for the thresholds, so the root finder converges
        fast where f' is continuous."""
        f, g = self.values(xs)
        finite = np.isfinite(f) & np.isfinite(g)
        with np.errstate(divide="ignore", invalid="ignore"):
            la = np.log(np.abs(g))
        out = np.select(
            [kind == 0, kind == 1, kind == 2],
            [np.clip(math.log(self.vanish) - la, -_CAP, _CAP), np.clip(la - math.log(self.explode), -_CAP, _CAP),
             np.where(g == 0, 1.0, -1.0)],
            np.where(finite, -1.0, 1.0))
        out = np.where(finite | (kind == 3), out, -_CAP)
        return np.where(np.isnan(out), -_CAP, out)

    def _solve(self, f: Any, lo: np.ndarray, hi: np.ndarray, args: tuple[np.ndarray, ...]) -> Any:
        tiny = tol.SATURATION_MIN_ABS * self.eps
        return find_root(f, (lo, hi), args=args,
                         tolerances={"xatol": tiny, "xrtol": max(self.eps / 4, 4 * np.finfo(float).eps)})

    def run(self, reference: _Scan, sigmas: tuple[float, ...]) -> dict[str, Any]:
        xs = _grid(self.dt, self.lo, self.hi)
        f, g = self.values(xs)
        xs, f, g = self._add_sign_changes(xs, f, g)
        masks = self.masks(f, g)
        top = float(torch.finfo(self.dt).max)

        # Every change of every kind between neighbouring points, located at once.
        brackets = [(k, int(i)) for k, name in enumerate(KINDS)
                    for i in np.flatnonzero(masks[name][:-1] != masks[name][1:])]
        inner: dict[tuple[int, int], float] = {}
        outer: dict[tuple[int, int], float] = {}
        if brackets:
            kind = np.array([b[0] for b in brackets])
            idx = np.array([b[1] for b in brackets])
            res = self._solve(self.depth, xs[idx], xs[idx + 1], (kind,))
            xl, xr = res.bracket
            fl, _ = res.f_bracket
            in_left = fl > 0
            for n, key in enumerate(brackets):
                inner[key] = float(_round(xl[n] if in_left[n] else xr[n], self.dt)[0])
                outer[key] = float(_round(xr[n] if in_left[n] else xl[n], self.dt)[0])

        runs: dict[str, list[tuple[list[float], tuple[int, int] | None, tuple[int, int] | None]]] = {}
        for k, name in enumerate(KINDS):
            runs[name] = []
            m = masks[name]
            starts = np.flatnonzero(m & np.concatenate([[True], ~m[:-1]]))
            ends = np.flatnonzero(m & np.concatenate([~m[1:], [True]]))
            for s, e in zip(starts, ends, strict=True):
                left = None if s == 0 else (k, int(s) - 1)
                right = None if e == len(xs) - 1 else (k, int(e))
                lo = float(xs[0]) if left is None else inner[left]
                hi = float(xs[-1]) if right is None else inner[right]
                runs[name].append(([lo, hi], left, right))

        zero_grad, flat = self._split_zeros(runs["zero"], inner, outer, reference)
        intervals = {"vanishing": [r[0] for r in runs["vanishing"]], "exploding": [r[0] for r in runs["exploding"]],
                     "zero_grad": zero_grad, "flat": flat, "nonfinite": [r[0] for r in runs["nonfinite"]]}
        record: dict[str, Any] = {}
        omitted: dict[str, int] = {}
        for name, ivs in intervals.items():
            if len(ivs) > tol.SATURATION_MAX_INTERVALS:
                keep = sorted(ivs, key=lambda iv: 0.0 if iv[0] <= 0 <= iv[1] else min(abs(iv[0]), abs(iv[1])))
                omitted[name] = len(ivs) - tol.SATURATION_MAX_INTERVALS
                ivs = sorted(keep[: tol.SATURATION_MAX_INTERVALS])
            record[name] = ivs
        record["dead_fraction"] = {
            f"{s:g}": float(sum(ndtr(hi / s) - ndtr(lo / s) for lo, hi in intervals["vanishing"])) for s in sigmas}
        if omitted:
            record["omitted"] = omitted
        record["max"] = top
        record["points"] = int(xs.size)
        record["curve"] = _curve(xs, g)
        record["_lost"] = self._lost(xs, g, masks["vanishing"], reference)
        record["_dead"] = bool(np.all(g == 0) and np.all(np.isfinite(f))), bool(np.all(f == f[0]))
        return record

    def _add_sign_changes(self, xs: np.ndarray, f: np.ndarray,
                          g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where f' changes sign between two grid points without vanishing at either, the
        zero between them, added to the grid (with its value), so that the narrow
        vanishing region around it is found."""
        ok = np.isfinite(g[:-1]) & np.isfinite(g[1:]) & (np.abs(g[:-1]) >= self.vanish) & (np.abs(g[1:]) >= self.vanish)
        i = np.flatnonzero(ok & (np.sign(g[:-1]) * np.sign(g[1:]) < 0))
        if i.size == 0:
            return xs, f, g
        res = self._solve(lambda x: np.nan_to_num(self.values(x)[1], nan=0.0), xs[i], xs[i + 1], ())
        new = _round(res.x[np.isfinite(res.x)], self.dt)
        new = new[~np.isin(new, xs)]
        if new.size == 0:
            return xs, f, g
        nf, ng = self.values(new)
        order = np.argsort(np.concatenate([xs, new]), kind="stable")
        return (np.concatenate([xs, new])[order], np.concatenate([f, nf])[order], np.concatenate([g, ng])[order])

    def _split_zeros(self, runs: list[tuple[list[float], tuple[int, int] | None, tuple[int, int] | None]],
                     inner: dict[tuple[int, int], float], outer: dict[tuple[int, int], float],
                     reference: _Scan) -> tuple[list[list[float]], list[list[float]]]:
        """Exactly-zero runs, split into those due to floating point and flat pieces."""
        fp: list[list[float]] = []
        flat: list[list[float]] = []
        for iv, left, right in runs:
            ends = [e for e in (left, right) if e is not None]
            if not ends:
                flat.append(iv)
                continue
            if self.dt == torch.float64:
                # Decayed through the threshold into 0, or jumped to 0 (a kink)?
                _, g = self.values(np.array([outer[e] for e in ends]))
                rounding = bool(np.any(np.abs(g) < self.vanish))
            else:
                _, g = reference.values(np.array([inner[e] for e in ends]))
                rounding = bool(np.any(g != 0))
            (fp if rounding else flat).append(iv)
        return fp, flat

    def _lost(self, xs: np.ndarray, g: np.ndarray, vanishing: np.ndarray,
              reference: _Scan) -> tuple[float, float, float] | None:
        """The point of smallest |x| where this dtype's |f'| vanishes and float64's is at
        least SATURATION_LOST_FACTOR times the threshold: (x, |f'|, |f'| in float64)."""
        if self.dt == torch.float64 or not vanishing.any():
            return None
        xv, gv = xs[vanishing], g[vanishing]
        _, g64 = reference.values(xv)
        lost = np.flatnonzero(np.abs(g64) >= tol.SATURATION_LOST_FACTOR * self.vanish)
        if lost.size == 0:
            return None
        i = lost[np.argmin(np.abs(xv[lost]))]
        return float(xv[i]), float(abs(gv[i])), float(abs(g64[i]))


def _curve(xs: np.ndarray, g: np.ndarray) -> dict[str, list[float]]:
    """|f'| at up to SATURATION_CURVE_POINTS grid points for the report's plot, spread
    evenly on a signed-log scale over the whole range, and again over |x| <= 100."""
    def u(x: np.ndarray) -> np.ndarray:
        return np.sign(x) * np.log10(1.0 + np.abs(x))

    ux = u(xs)
    half = tol.SATURATION_CURVE_POINTS // 2
    targets = np.concatenate([np.linspace(ux[0], ux[-1], half),
                              np.linspace(max(ux[0], -u(np.array(100.0))), min(ux[-1], u(np.array(100.0))), half)])
    pick = np.unique(np.clip(np.searchsorted(ux, targets), 0, len(xs) - 1))
    return {"x": xs[pick].tolist(), "abs_grad": np.abs(g[pick]).tolist()}
