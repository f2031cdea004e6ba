"""`stability`: finite inputs give finite outputs and finite gradients wherever the
true value is finite in the dtype.

Each dtype (float64, float32, bfloat16, float16) is scanned on a log-spaced grid of
|x| from 1e-3 to the dtype's largest value, both signs, inside the domain, on every
channel, with one forward and one backward (of the sum) per sign. A grid point
*breaks* when its output or its input gradient is non-finite while the true value is
finite in that dtype:

* NaN always breaks: no real input has NaN for its true value.
* An infinity in float32, bfloat16 or float16 is the correctly rounded answer (no
  break) when the float64 truth at the same, rounded input is an infinity of the same
  sign or within a few roundings of the dtype's max (SELU's scale times float32's max).
  The float64 truth is the spec's reference where it is finite there, else the subject
  itself in float64.
* An infinity in float64 has no wider dtype to be judged in. It breaks where the
  spec's reference is finite; otherwise, at the first infinity on a side (per channel,
  output and gradient separately) the scan zooms in between the grid point before it
  and it, and extrapolates log|f| against log|x| from the last two finite points to the
  first infinite one. Reaching float64's max (within a factor 2) means the true value
  overflows there, and every infinity from that |x| on, on that side, is taken for
  the same overflow; falling short means an intermediate overflowed (x * x in a
  function that grows like x) and the infinity breaks.

float16 and bfloat16 are also scanned exhaustively: every finite value (about 2^16
each) inside the domain, at the default parameters, against the subject's own float64
value and gradient at the same input. A non-finite output or gradient where that truth
is finite and fits the dtype is a break (a NaN from inf * 0 inside the formula at a few
dozen values that a grid steps over); the count and the first few are reported.

The first break on each side is located between the grid points around it. A first
break within the required range (|x| <= ``Properties.stable_range``, 1e4 without a
spec or a ``required_range`` option, clamped to the dtype's max) fails; one beyond it is
a finding (torch's Hardswish overflows from |x| = max / 6 in float32).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from verify import tolerances as tol
from verify.analysis.kinkscan import Evaluator
from verify.checks._edges import Fn, evaluate, first_nonfinite_op, lay
from verify.checks._grad import settings_label
from verify.checks._layout import dtype_name
from verify.checks.base import Context, Outcome, check, failed, passed
from verify.halves import views
from verify.strategies import _inside
from verify.subject import Subject

SIDES = ((1, "pos"), (-1, "neg"))
QUANTITIES = ("output", "gradient")


@dataclass(frozen=True)
class Break:
    x: float  # signed
    what: str  # "output" | "gradient"
    value: float  # the non-finite value found there


@check("stability")
def check_stability(subject: Subject, ctx: Context) -> Outcome:
    """Finite outputs and gradients out to each dtype's max wherever the true value is finite."""
    spec = subject.spec
    default = spec.properties.stable_range if spec is not None else tol.STABLE_RANGE
    required = float(ctx.options.get("stability", {}).get("required_range", default))
    dtypes = tuple(dict.fromkeys((*tol.ALL_FLOAT, *ctx.dtypes)))
    failures: list[tuple[str, Break, str]] = []
    failing: list[dict[str, float] | None] = []  # the parameters of each failure
    findings: list[str] = []
    by_setting: list[dict[str, Any]] = []

    settings = subject.param_settings(ctx.profile)
    for params in settings:
        label = "" if len(settings) == 1 else f"({settings_label(params)}) "
        records: dict[str, dict[str, Any]] = {}
        for dt in dtypes:
            name = dtype_name(dt)
            scan = _Scan(subject, params, dt, ctx.device)
            req = min(required, scan.max)
            record: dict[str, Any] = {"required_range": req, "what": None}
            found: list[Break] = []
            for sign, side in SIDES:
                brk = scan.first_break(sign, req)
                record[f"first_break_{side}"] = None if brk is None else brk.x
                record[f"what_{side}"] = None if brk is None else brk.what
                record[f"value_{side}"] = None if brk is None else brk.value
                if brk is not None:
                    found.append(brk)
            if found:
                record["what"] = min(found, key=lambda b: abs(b.x)).what
            for brk in found:
                if abs(brk.x) <= req:
                    failures.append((f"{label}{name}: {_describe(brk)}, inside the required range |x| <= {req:g}",
                                     brk, name))
                    failing.append(params)
            beyond = [b for b in found if abs(b.x) > req]
            if beyond:
                findings.append(f"{label}{name}: {_describe_all(beyond)} (beyond the required |x| <= {req:g})")
            record["points"] = scan.points
            if dt in tol.EXHAUSTIVE_DTYPES and params == settings[0]:
                every = _every_value(subject, params, dt, ctx.device, req)
                record["every_value"] = every
                # What the grid found already is said once, with its location.
                grid_found = {"inside": any(abs(b.x) <= req for b in found),
                              "beyond": any(abs(b.x) > req for b in found)}
                for where, bad in (("inside", every["inside"]), ("beyond", every["beyond"])):
                    if not bad["count"] or grid_found[where]:
                        continue
                    kinds, xs = _describe_values(bad)
                    text = (f"{label}{name}: {kinds} at {bad['count']} of the {every['values']} finite {name} values, "
                            f"{'inside' if where == 'inside' else 'beyond'} |x| <= {req:g} (first at x = {xs}), "
                            f"where the subject's float64 value and gradient are finite in {name}")
                    if where == "inside":
                        first = bad["first"][0]
                        failures.append((text, Break(first["x"], first["what"], first["value"]), name))
                        failing.append(params)
                    else:
                        findings.append(text)
            records[name] = record
        by_setting.append({"params": params, "dtypes": records})

    halves = _gated_halves(subject, ctx, required) if subject.layout.kind == "gated" else []
    for half in halves:
        failures.append((half.message, half.brk, half.dtype))
        failing.append(settings[0])
    details: dict[str, Any] = {"required_range": required, "dtypes": by_setting[0]["dtypes"]}
    if len(by_setting) > 1:
        details["settings"] = by_setting
    names = ", ".join(dtype_name(dt) for dt in dtypes)
    if failures:
        (message, brk, name), more = failures[0], len(failures) - 1
        details["break"] = {"dtype": name, "x": brk.x, "what": brk.what, "value": brk.value}
        details["params"] = failing[0]
        dt = getattr(torch, name)
        line: Subject = next((h.line for h in halves if h.brk is brk), subject)
        cause = first_nonfinite_op(line.instance(dt, ctx.device, failing[0]),
                                   lay(line, torch.tensor([brk.x], dtype=torch.float64).to(ctx.device, dt)))
        details["cause"] = cause
        if cause is not None:
            message += f" ({cause} inside the activation)"
        others = "; ".join(m for m, _, _ in failures[1:4])
        summary = message + (f"; also {others}" if others else "") + (f" (and {more - 3} more)" if more > 3 else "")
        return failed(summary, details=details, smallest_input=[brk.x], findings=findings)
    summary = f"finite outputs and gradients for |x| <= {required:g} (clamped to each dtype's max) in {names}"
    if findings:
        summary += f"; {len(findings)} break(s) beyond it: " + "; ".join(findings)
    return passed(summary, details=details, findings=findings)


@dataclass(frozen=True)
class _HalfBreak:
    """A gated half's sweep that broke: the message, the break, its dtype and the view."""

    message: str
    brk: Break
    dtype: str
    line: Subject


def _gated_halves(subject: Subject, ctx: Context, required: float) -> list[_HalfBreak]:
    """Every 16-bit value of one half of a gated subject, the other half held at each of
    ``GATED_HELD``: the first break within the required range per half, held value and
    dtype (a product of the halves that overflows, where the subject's float64 value
    fits)."""
    found: list[_HalfBreak] = []
    for held in tol.GATED_HELD:
        for view in views(subject, held):
            for dt in tol.EXHAUSTIVE_DTYPES:
                name = dtype_name(dt)
                bad = _every_value(view, None, dt, ctx.device, required)["inside"]
                if not bad["count"]:
                    continue
                kinds, xs = _describe_values(bad)
                first = bad["first"][0]
                text = (f"{name}: {kinds} at {bad['count']} {name} values of {view.label} (first at {view.variable} = {xs}), "
                        f"where the subject's float64 value and gradient are finite in {name}")
                found.append(_HalfBreak(text, Break(first["x"], first["what"], first["value"]), name, view))
                break  # one dtype per half and held value says it
    return found


def _describe(b: Break) -> str:
    return f"{b.what} {b.value} first at x = {b.x:.4g}"


def _describe_all(breaks: list[Break]) -> str:
    """One phrase for the breaks of both sides, merged when they mirror each other."""
    a, b = (breaks + breaks)[:2]
    if len(breaks) == 2 and (a.what, abs(a.x), str(abs(a.value))) == (b.what, abs(b.x), str(abs(b.value))):
        return f"{a.what} {a.value} first at |x| = {abs(a.x):.4g} (both signs)"
    return "; ".join(_describe(b) for b in breaks)


def _every_value(subject: Subject, params: dict[str, float] | None, dt: torch.dtype, device: str,
                 required: float) -> dict[str, Any]:
    """Every finite value of a 16-bit dtype inside the domain, each on every channel:
    where the output or the input gradient in ``dt`` is not finite while the subject's
    own float64 value and gradient at the same input are finite and fit in ``dt``. The
    count and the first few (smallest |x|), within the required range and beyond it."""
    bits = torch.arange(-(1 << 15), 1 << 15, dtype=torch.int32).to(torch.int16)
    xs = bits.view(dt)
    lo, hi = _inside(*subject.domain(params))
    xs = xs[torch.isfinite(xs) & (xs.double() > lo) & (xs.double() < hi)]
    xs = xs[torch.argsort(xs.double().abs(), stable=True)]
    low = Evaluator(subject, params, dtype=dt, device=device)
    high = Evaluator(subject, params, dtype=torch.float64, device=device)
    y, g = (torch.from_numpy(a) for a in low.both(xs.double().numpy()))
    y64, g64 = (torch.from_numpy(a) for a in high.both(xs.double().numpy()))

    def fits(t: Tensor) -> Tensor:
        return torch.isfinite(t) & torch.isfinite(t.to(dt))

    truth_ok = fits(y64).all(dim=0) & fits(g64).all(dim=0)  # per value, over every output row
    broken = {"output": ~torch.isfinite(y) & truth_ok, "gradient": ~torch.isfinite(g) & truth_ok}
    anywhere = broken["output"].any(dim=0) | broken["gradient"].any(dim=0)
    inside = xs.double().abs() <= required
    out: dict[str, Any] = {"values": int(xs.numel())}
    for where, mask in (("inside", anywhere & inside), ("beyond", anywhere & ~inside)):
        idx = torch.nonzero(mask).flatten()
        first = []
        for i in idx[: tol.EXHAUSTIVE_FIRST].tolist():
            what = "output" if bool(broken["output"][:, i].any()) else "gradient"
            c = int(torch.nonzero(broken[what][:, i]).flatten()[0])
            value = float((y if what == "output" else g)[c, i])
            first.append({"x": float(xs[i]), "what": what, "value": value})
        out[where] = {"count": int(idx.numel()), "first": first}
    return out


def _describe_values(bad: dict[str, Any]) -> tuple[str, str]:
    """What broke ("gradient nan") and where first, for a message."""
    kinds = " / ".join(sorted({f"{b['what']} {b['value']}" for b in bad["first"]}))
    return kinds, ", ".join(f"{b['x']:.6g}" for b in bad["first"])


def _value_and_grad(subject: Subject, fn: Fn, xs: Tensor) -> tuple[Tensor, Tensor]:
    y, g = evaluate(subject, fn, xs, grad=True)
    assert g is not None
    return y, g


def _magnitudes(dt: torch.dtype, required: float) -> Tensor:
    """The scan's |x|, in float64, each representable in ``dt``, ascending."""
    top = torch.finfo(dt).max
    per = tol.STABILITY_POINTS_PER_DECADE
    k = torch.arange(math.ceil(math.log10(tol.STABILITY_MIN_ABS) * per), math.floor(math.log10(top) * per) + 1,
                     dtype=torch.float64)
    m = torch.cat([10.0 ** (k / per), torch.tensor([min(required, top), top], dtype=torch.float64)])
    return torch.unique(m.clamp(max=top).to(dt).double())


def _between(a: float, b: float, dt: torch.dtype) -> Tensor:
    """STABILITY_REFINE_POINTS log-spaced magnitudes from a to b (both included),
    representable in ``dt``."""
    t = torch.linspace(0.0, 1.0, tol.STABILITY_REFINE_POINTS, dtype=torch.float64)
    m = torch.exp(math.log(a) + t * (math.log(b) - math.log(a)))
    m[0], m[-1] = a, b
    return torch.unique(m.to(dt).double())


class _Scan:
    """One subject at one parameter setting in one dtype."""

    def __init__(self, subject: Subject, params: dict[str, float] | None, dt: torch.dtype, device: str) -> None:
        self.subject, self.dt, self.device = subject, dt, device
        self.max = torch.finfo(dt).max
        self.fn = subject.instance(dt, device, params)
        self.fn64 = self.fn if dt == torch.float64 else subject.instance(torch.float64, device, params)
        spec = subject.spec
        self.reference: Fn | None = None
        if spec is not None:
            # In the subject's own layout, as the checks' inputs are moved to it.
            self.reference = subject.layout.adapt(
                functools.partial(spec.reference, **{**spec.defaults(), **(params or {})}))
        self.lo, self.hi = _inside(*subject.domain(params))
        # float64 only: per side, per quantity, the |x| from which an infinity is an
        # overflow of the true value, per channel (inf: none yet).
        self.overflow_from: dict[tuple[int, str], Tensor] = {}
        self.points = 0  # grid points scanned, both sides

    # -- evaluation --------------------------------------------------------------
    def _values(self, xs: Tensor) -> dict[str, Tensor]:
        """At xs (float64, each exact in the dtype), as float64 (channels, n): the
        subject's output and gradient in its dtype, and per quantity q either the
        reference's value (``ref_q``, float64 scans; NaN without a spec) or the float64
        truth (``truth_q``, lower dtypes)."""
        out = dict(zip(QUANTITIES, _value_and_grad(self.subject, self.fn, xs.to(self.device, self.dt)), strict=True))
        out = {q: t.double() for q, t in out.items()}
        x64 = xs.to(self.device)
        ref = None
        if self.reference is not None:
            ref = dict(zip(QUANTITIES, _value_and_grad(self.subject, self.reference, x64), strict=True))
        if self.dt == torch.float64:
            for q in QUANTITIES:
                out[f"ref_{q}"] = ref[q] if ref is not None else torch.full_like(out[q], math.nan)
            return out
        for q, s in zip(QUANTITIES, _value_and_grad(self.subject, self.fn64, x64), strict=True):
            if ref is None:
                out[f"truth_{q}"] = s
                continue
            r = ref[q]
            # The reference where it is finite; else the subject in float64 where that is
            # finite or the reference is NaN; else the reference's infinity.
            out[f"truth_{q}"] = torch.where(torch.isfinite(r), r, torch.where(torch.isfinite(s) | torch.isnan(r), s, r))
        return out

    def _broken(self, sign: int, mags: Tensor, v: dict[str, Tensor]) -> dict[str, Tensor]:
        """Per quantity, a (channels, n) mask of the breaks at ``sign * mags``."""
        out = {}
        for q in QUANTITIES:
            val = v[q]
            if self.dt == torch.float64:
                start = self.overflow_from.get((sign, q))
                overflow = torch.zeros_like(val, dtype=torch.bool)
                if start is not None:
                    overflow = ~torch.isfinite(v[f"ref_{q}"]) & (mags.to(val.device)[None, :] >= start[:, None])
            else:
                truth = v[f"truth_{q}"]
                near_max = truth.abs() >= self.max * (1 - tol.OVERFLOW_ULPS * tol.EPS[self.dt])
                overflow = near_max & (torch.sign(truth) == torch.sign(val))
            out[q] = torch.isnan(val) | (torch.isinf(val) & ~overflow)
        return out

    # -- float64 overflows ------------------------------------------------------------
    def _find_overflows(self, sign: int, mags: Tensor, v: dict[str, Tensor]) -> None:
        """Where, on this side, an infinity in float64 is the true value overflowing."""
        zoomed: dict[int, tuple[Tensor, dict[str, Tensor]]] = {}
        log_top = math.log(self.max / tol.OVERFLOW_SLACK)
        for q in QUANTITIES:
            val = v[q]
            start = torch.full((val.shape[0],), math.inf, dtype=torch.float64)
            for c in range(val.shape[0]):
                hits = torch.nonzero(torch.isinf(val[c])).flatten()
                if hits.numel() == 0 or int(hits[0]) == 0:
                    continue
                i = int(hits[0])
                if i not in zoomed:
                    fine = _between(float(mags[i - 1]), float(mags[i]), self.dt)
                    zoomed[i] = (fine, self._values(sign * fine))
                fine, fv = zoomed[i]
                row = fv[q][c]
                inf_at = torch.nonzero(torch.isinf(row)).flatten()
                j = int(inf_at[0]) if inf_at.numel() else None
                if j is None:  # the zoom did not reproduce it: judge it a break
                    continue
                pts = [(float(fine[k]), float(row[k])) for k in range(j)]
                if len(pts) < 2 and i >= 2:
                    pts = [(float(mags[i - 2]), float(val[c, i - 2])), *pts]
                if len(pts) < 2:
                    continue
                (x0, f0), (x1, f1) = pts[-2], pts[-1]
                if not (math.isfinite(f0) and math.isfinite(f1) and f0 != 0 and f1 != 0):
                    continue
                lx0, lx1, lxj = math.log(x0), math.log(x1), math.log(float(fine[j]))
                slope = (math.log(abs(f1)) - math.log(abs(f0))) / (lx1 - lx0)
                if math.log(abs(f1)) + slope * (lxj - lx1) >= log_top:
                    start[c] = float(fine[j])
            self.overflow_from[(sign, q)] = start.to(self.device)

    # -- the scan ----------------------------------------------------------------------
    def first_break(self, sign: int, required: float) -> Break | None:
        """The break of smallest |x| on one side (None: none)."""
        mags = _magnitudes(self.dt, required)
        mags = mags[(sign * mags > self.lo) & (sign * mags < self.hi)]
        self.points += mags.numel()
        if mags.numel() == 0:
            return None
        v = self._values(sign * mags)
        if self.dt == torch.float64:
            self._find_overflows(sign, mags, v)
        broken = self._broken(sign, mags, v)
        anywhere = (broken["output"].any(dim=0) | broken["gradient"].any(dim=0)).cpu()
        if not anywhere.any():
            return None
        i = int(torch.nonzero(anywhere).flatten()[0])
        if i > 0:  # locate it between the grid point before and this one
            fine = _between(float(mags[i - 1]), float(mags[i]), self.dt)
            fv = self._values(sign * fine)
            fb = self._broken(sign, fine, fv)
            fine_any = (fb["output"].any(dim=0) | fb["gradient"].any(dim=0)).cpu()
            if fine_any.any():
                mags, v, broken, i = fine, fv, fb, int(torch.nonzero(fine_any).flatten()[0])
        what = "output" if bool(broken["output"][:, i].any()) else "gradient"
        c = int(torch.nonzero(broken[what][:, i]).flatten()[0])
        return Break(sign * float(mags[i]), what, float(v[what][c, i]))
