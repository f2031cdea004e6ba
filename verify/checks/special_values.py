"""`special_values`: a NaN stays where it was put, the infinities give the declared
limits, and -0.0 gives the value at zero.

* NaN: an input with NaNs scattered over every channel must give NaN exactly there,
  and every other output must be bit for bit the output of the same input without
  the NaNs (same input bits through the same elementwise code give the same bits; any
  difference is a dependence across elements). A NaN that comes out as a number is
  swallowed (``nan_to_num``, ``torch.where(x > 0, x, 0)``).
* +-inf: with a spec, the output must equal ``Properties.limits`` (the default
  parameters' limits; an infinite limit exactly, a finite one within a few roundings)
  and a NaN fails. Without a spec nothing says what the limit is; a NaN there is a
  finding, not a failure (torch's own SiLU is NaN at -inf). An infinity outside the
  domain at the default parameters is not asked.
* -0.0: a finite value equal to the declared ``value_at_zero`` (without a spec: equal
  to the output at +0.0, since a function of the reals cannot tell them apart).

For a channelwise activation (a different function on each channel, with no
per-channel parameter) the declared limits and value at zero describe channel 0;
the other channels are held only to NaN-freedom and f(-0.0) = f(+0.0).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from verify import tolerances as tol
from verify.checks._edges import Fn, by_channel, call, evaluate, lay
from verify.checks._layout import CALL_ERRORS, dtype_name, first_line
from verify.checks.base import Context, Outcome, check, failed, passed
from verify.halves import half_view
from verify.strategies import _inside, domain_range
from verify.subject import Subject

# Copies of each special value on every channel: more than one vector register's
# worth (16 float32 or 32 bfloat16 lanes with AVX-512) plus a scalar tail, since an
# elementwise kernel may compute its vectorised body and its tail differently.
REPEAT = 37
# Finite inputs around the NaNs: this many values spread over [-4, 4] in the domain,
# with a NaN on every NAN_EVERY-th element of the laid-out input (so on every channel).
NAN_GRID = 24
NAN_EVERY = 5

INFINITIES = (("at_neg_inf", -math.inf, 0), ("at_pos_inf", math.inf, 1))

# What a subject may raise on a special input: its failure, not the harness's (an
# integer conversion of NaN or inf raises ValueError or OverflowError).
CRASHES = (*CALL_ERRORS, ArithmeticError)


@check("special_values")
def check_special_values(subject: Subject, ctx: Context) -> Outcome:
    """NaN in gives NaN in place only; +-inf give the declared limits; -0.0 the value at zero."""
    spec = subject.spec
    lo, hi = subject.domain()
    dtypes = tuple(dict.fromkeys((torch.float64, torch.float32, *ctx.dtypes)))
    # The channels the declared values describe (see the module docstring).
    judged = slice(0, 1) if spec is not None and spec.channelwise else slice(None)
    problems: list[tuple[str, float]] = []
    nan_limits: dict[str, list[str]] = {"-inf": [], "+inf": []}
    records: dict[str, dict[str, Any]] = {}

    line = _declared_line(subject)
    for dt in dtypes:
        name = dtype_name(dt)
        fn = subject.instance(dt, ctx.device)
        rec: dict[str, Any] = {}
        rec["nan_propagation"], why = _nan_propagation(subject, fn, dt, ctx.device, (lo, hi))
        if why:
            problems.append((f"{name}: {why}", math.nan))
        fn = line.instance(dt, ctx.device)

        for key, v, side in INFINITIES:
            if (v < 0 and lo > -math.inf) or (v > 0 and hi < math.inf):
                rec[key] = "outside domain"
                continue
            rec[key], why = _unless_crash(f"a {v:+} input",
                                          functools.partial(_at_infinity, line, fn, dt, ctx.device, side, judged))
            if why:
                problems.append((f"{name}: {why}", v))
            elif line.spec is None and isinstance(rec[key], float) and math.isnan(rec[key]):
                nan_limits[f"{v:+}"].append(name)

        if lo < 0.0 < hi:
            rec["at_neg_zero"], why = _unless_crash("a -0.0 input",
                                                    functools.partial(_negative_zero, line, fn, dt, ctx.device, judged))
            if why:
                problems.append((f"{name}: {why}", -0.0))
        else:
            rec["at_neg_zero"] = "outside domain"
        records[name] = rec

    findings = [
        f"f({label}) is NaN in {', '.join(names)} (no limit declared to hold it to)"
        for label, names in nan_limits.items()
        if names
    ]
    if subject.layout.kind == "gated":
        grid_problems, grid_findings, records["ab_grid"] = _gated_grid(subject, dtypes, ctx.device)
        problems += grid_problems
        findings += grid_findings
    details: dict[str, Any] = {
        "declared_limits": list(spec.properties.limits) if spec is not None else None,
        "declared_value_at_zero": spec.properties.value_at_zero if spec is not None else None,
        "domain": [lo, hi],
        "dtypes": records,
    }
    if problems:
        (message, value), more = problems[0], len(problems) - 1
        return failed(message + (f" (and {more} more)" if more else ""), details=details,
                      smallest_input=[value], findings=findings)
    first = records[dtype_name(dtypes[0])]
    shown = ", ".join(f"f({v:+}) = {_fmt(first[key])}" for key, v, _ in INFINITIES)
    summary = (f"NaN stays in place; {shown}, f(-0.0) = {_fmt(first['at_neg_zero'])} "
               f"({', '.join(records)})")
    if findings:
        summary += "; finding: " + "; ".join(findings)
    return passed(summary, details=details, findings=findings)


# The (a, b) grid of a gated activation: every pair of these in its two halves.
AB_VALUES = (-math.inf, -1.0, -0.0, 0.0, 1.0, math.inf, math.nan)


def _gated_grid(subject: Subject, dtypes: tuple[torch.dtype, ...],
                device: str) -> tuple[list[tuple[str, float]], list[str], dict[str, Any]]:
    """A gated subject at every (a, b) pair of special values: a NaN in either half
    gives NaN, -0.0 in either half gives what +0.0 gives, and a low-precision dtype
    gives NaN only where float64 does. Pairs where float64 gives NaN from infinities
    (-inf * 0 inside the formula) are findings."""
    pairs = [(a, b) for a in AB_VALUES for b in AB_VALUES]
    base = subject.base_shape
    half = base[1] // 2 if len(base) >= 2 else base[0] // 2
    shape = (len(pairs), *base[1:]) if len(base) >= 2 else (len(pairs), base[0])
    a = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
    b = torch.tensor([p[1] for p in pairs], dtype=torch.float64)
    x = torch.empty(shape, dtype=torch.float64)
    view = (-1,) + (1,) * (len(shape) - 1)
    x[:, :half] = a.reshape(view)
    x[:, half:] = b.reshape(view)
    out: dict[str, Tensor] = {}
    problems: list[tuple[str, float]] = []
    for dt in dtypes:
        name = dtype_name(dt)
        fn = subject.instance(dt, device)
        try:
            with torch.no_grad():
                y = fn(x.to(device, dt) if len(base) >= 2 else x.to(device, dt)[0])
        except CRASHES as exc:
            problems.append((f"{name}: the (a, b) grid of special values crashes the activation: {first_line(exc)}",
                             math.nan))
            continue
        out[name] = y.double().reshape(len(pairs), -1).cpu() if len(base) >= 2 else y.double().reshape(1, -1)
    rec: dict[str, Any] = {}
    f64 = out.get("float64")
    if f64 is None or f64.shape[0] != len(pairs):
        return problems, [], rec

    def label(i: int) -> str:
        return f"f(a={pairs[i][0]}, b={pairs[i][1]})"

    nan64 = torch.isnan(f64).any(dim=1)
    for i, (va, vb) in enumerate(pairs):
        if (math.isnan(va) or math.isnan(vb)) and not nan64[i]:
            problems.append((f"float64: {label(i)} = {float(f64[i, 0]):.6g}: a NaN input came out as a number",
                             math.nan))
            break
    for i, (va, vb) in enumerate(pairs):
        if (va == 0 and math.copysign(1, va) < 0) or (vb == 0 and math.copysign(1, vb) < 0):
            j = pairs.index((abs(va) if va == 0 else va, abs(vb) if vb == 0 else vb))
            same = (f64[i] == f64[j]) | (torch.isnan(f64[i]) & torch.isnan(f64[j]))
            if not bool(same.all()):
                problems.append((f"float64: {label(i)} = {float(f64[i, 0]):.6g} but {label(j)} = "
                                 f"{float(f64[j, 0]):.6g}", -0.0))
                break
    for name, y in out.items():
        extra = torch.isnan(y).any(dim=1) & ~nan64
        if bool(extra.any()):
            i = int(torch.nonzero(extra)[0])
            problems.append((f"{name}: {label(i)} is NaN where float64 gives {float(f64[i, 0]):.6g}", math.nan))
    at_inf = [label(i) for i, (va, vb) in enumerate(pairs)
              if nan64[i] and not (math.isnan(va) or math.isnan(vb))]
    rec["nan_in_float64"] = at_inf
    findings = [f"the (a, b) grid gives NaN in float64 at {', '.join(at_inf[:4])}"
                f"{f' (and {len(at_inf) - 4} more)' if len(at_inf) > 4 else ''}"] if at_inf else []
    return problems, findings, rec


def _declared_line(subject: Subject) -> Subject:
    """What the infinities and -0.0 are judged on: the subject, or for a gated spec its
    first half's view with b = 1, which its declared limits and value at zero describe
    (``acts.Activation.layout``). A vector spec's declared values are not those of one
    input laid on every entry, so it is held as a subject without them."""
    spec = subject.spec
    if spec is None or spec.layout is None:
        return subject
    if subject.layout.kind == "gated":
        view = half_view(subject, 0)
        view.spec = spec
        return view
    return replace(subject, spec=None)


def _nan_propagation(subject: Subject, fn: Fn, dt: torch.dtype, device: str,
                     domain: tuple[float, float]) -> tuple[str, str | None]:
    """'ok', 'swallowed' (a NaN came out as a number) or 'leaked' (another output
    changed), with the reason when not ok."""
    a, b = _inside(*domain_range(domain, 4.0))
    values = torch.linspace(a, b, NAN_GRID, dtype=torch.float64).to(device=device, dtype=dt)
    x = lay(subject, values)
    if subject.not_positionwise is None:
        mask = (torch.arange(x.numel(), device=device) % NAN_EVERY == 2).reshape(x.shape)
    else:  # NaN on whole values, each followed to every output position of it
        mask = lay(subject, torch.arange(NAN_GRID, device=device) % NAN_EVERY == 2)
    with torch.no_grad():
        clean = call(subject, fn, x)
        crashed, why = _unless_crash("a NaN input", lambda: (call(subject, fn, x.masked_fill(mask, math.nan)), None))
    if why is not None:
        return "crashed", why
    dirty = crashed
    if subject.not_positionwise is not None:
        mask = by_channel(subject, mask, NAN_GRID).any(dim=0, keepdim=True)
        clean, dirty = by_channel(subject, clean, NAN_GRID), by_channel(subject, dirty, NAN_GRID)
        mask = mask.expand(clean.shape)
    swallowed = mask & ~torch.isnan(dirty)
    if swallowed.any():
        return "swallowed", f"a NaN input gave {float(dirty[swallowed][0]):.6g}, not NaN"
    if subject.spec is not None and not subject.spec.elementwise:
        return "ok (not elementwise: other positions not compared)", None
    same = (dirty == clean) | (torch.isnan(dirty) & torch.isnan(clean))
    leaked = ~mask & ~same
    if leaked.any():
        return "leaked", (f"NaNs at {int(mask.sum())} of {mask.numel()} positions changed {int(leaked.sum())} other "
                          f"outputs ({float(clean[leaked][0]):.6g} became {float(dirty[leaked][0]):.6g})")
    return "ok", None


def _unless_crash(what: str, judge: Callable[[], tuple[Any, str | None]]) -> tuple[Any, str | None]:
    """``judge()``; a subject that raises on the special input fails, saying so."""
    try:
        return judge()
    except CRASHES as exc:
        return "crashed", f"{what} crashes the activation: {first_line(exc)}"


def _at_infinity(subject: Subject, fn: Fn, dt: torch.dtype, device: str, side: int,
                 judged: slice) -> tuple[float, str | None]:
    """f at -inf (side 0) or +inf (side 1), the first offending value if any, and why
    it fails (None: it does not, or there is no declared limit to fail)."""
    spec = subject.spec
    v = (-math.inf, math.inf)[side]
    y, _ = evaluate(subject, fn, torch.full((REPEAT,), v, dtype=dt, device=device))
    if spec is None:
        return _pick(y, torch.isnan(y)), None
    limit = spec.properties.limits[side]
    bad = torch.isnan(y)
    if bad.any():
        return math.nan, f"f({v:+}) is NaN, the declared limit is {limit!r}"
    bad[judged] = ~_close(y[judged], torch.tensor(limit, dtype=torch.float64, device=y.device), dt)
    value = _pick(y, bad)
    return value, f"f({v:+}) = {value!r}, the declared limit is {limit!r}" if bad.any() else None


def _negative_zero(subject: Subject, fn: Fn, dt: torch.dtype, device: str,
                   judged: slice) -> tuple[float, str | None]:
    spec = subject.spec
    y, _ = evaluate(subject, fn, torch.full((REPEAT,), -0.0, dtype=dt, device=device))
    at_pos, _ = evaluate(subject, fn, torch.zeros(REPEAT, dtype=dt, device=device))
    expected = at_pos.double()
    if spec is not None:
        expected[judged] = spec.properties.value_at_zero
    bad = ~torch.isfinite(y) | ~_close(y, expected, dt)
    value = _pick(y, bad)
    if not bad.any():
        return value, None
    if not math.isfinite(value):
        return value, f"f(-0.0) is {value}"
    want = float(expected[bad][0])
    whose = "the declared value at zero" if spec is not None and bool(bad[judged].any()) else "f(+0.0)"
    return value, f"f(-0.0) = {value!r}, but {whose} is {want!r}"


def _close(y: Tensor, expected: Tensor, dt: torch.dtype) -> Tensor:
    """Equal (infinities exactly), or within a few roundings of a finite expectation."""
    y = y.double()
    slack = tol.SPECIAL_VALUE_ULPS * tol.EPS[dt] * expected.abs().clamp(min=1.0)
    return (y == expected) | (torch.isfinite(expected) & ((y - expected).abs() <= slack))


def _pick(y: Tensor, bad: Tensor) -> float:
    """The first offending value, or the first value when none offends."""
    return float(y[bad][0]) if bad.any() else float(y[0, 0])


def _fmt(v: object) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)

