"""`matches`: a fast implementation against its reference (``check FAST --reference REF``).

A fused ``autograd.Function``, a ``torch.compile``'d form, a custom op or a
float32-inside mixed-precision form is a fast version of a function someone already
trusts. This check holds the subject to that reference: the forward, the input
gradient, each trainable parameter's gradient (matched by name; the reference gets the
subject's parameter values) and the second derivative where both have one, in every
dtype of the run, on hypothesis-drawn inputs, the special values, log-spaced magnitudes
out to the required range and every finite float16 and bfloat16 value.

Which truth: the reference in float64 at the subject's rounded inputs (and rounded
parameters and incoming gradients), not the reference run in the same dtype. Two
implementations in bfloat16 legitimately differ by their own roundings, so the one
in the dtype is no truth: each would be blamed for the other's rounding. The fast one
fails only where it is further from the float64 truth than the dtype allows: a few
roundings of the result, or as much as the reference itself run in that dtype (times
a little slack), the bound `reference` justifies (see ``REFERENCE_ULPS`` and
``REFERENCE_SLACK`` in :mod:`verify.tolerances`). Where the reference is NaN it sets no
standard; where the reference run in the dtype breaks too, the fast one is no worse
than it (a non-finite value is `stability`'s business).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from verify import tolerances as tol
from verify.analysis.kinkscan import kinks as kinks_of
from verify.checks._edges import by_channel, call, lay
from verify.checks._grad import sample_strategy
from verify.checks._layout import Problem, dtype_name, ulps_apart, upstream_grad
from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.checks.gradcheck import required_range
from verify.checks.reference import _excess, _on_kink
from verify.strategies import _inside, falsify, to_tensor
from verify.subject import ShapeError, Subject
from verify.targets import resolve

# What torch says when a kernel exists only for CUDA: a custom op with no CPU kernel
# ("only available for these backends: [CUDA, ..."), a Triton kernel given a CPU
# tensor, a CPU-only build asked for CUDA.
_CUDA_ONLY = re.compile(r"triton|cuda", re.IGNORECASE)

OUTPUT, GRADIENT, SECOND = "output", "gradient", "second derivative"


def reference_target(ctx: Context) -> str | None:
    """The ``--reference`` target the run was given (None: none)."""
    return ctx.options.get("matches", {}).get("reference")


@check("matches")
def check_matches(subject: Subject, ctx: Context) -> Outcome:
    """Forward, input, parameter and second-order gradients against ``--reference``, per dtype."""
    target = reference_target(ctx)
    if not target:
        return skipped("no reference to compare with (give one with --reference REF)")
    reference = resolve(target)
    for who, s in (("subject", subject), ("reference", reference)):
        if _runs_only_on_cuda(s, ctx.device):
            return skipped(f"the {who} runs only on CUDA; run with --device cuda")
    positionwise = subject.not_positionwise is None
    kinks = kinks_of(subject)
    required = required_range(subject, ctx)
    findings: list[str] = []
    second = _second_order(subject, reference)
    if second is not None:
        findings.append(f"second derivative not compared: {second}")
    dtypes = (torch.float64, *(d for d in ctx.dtypes if d != torch.float64))
    worst: dict[str, dict[str, Any]] = {}
    compared: list[str] = []
    for dtype in dtypes:
        pair = _Pair(subject, reference, dtype, ctx.device, kinks)
        if dtype == torch.float64:
            findings += pair.unmatched
            compared = [OUTPUT, GRADIENT, *(f"gradient of {n}" for n in pair.names), SECOND]
        name = dtype_name(dtype)
        record: dict[str, Any] = worst.setdefault(name, {})
        large = tol.REFERENCE_RANGE.get(dtype, tol.STABLE_RANGE)
        strategy = sample_strategy(subject, None, batch=2, length=4, large=large)
        # No probe first (as `search` would try): hypothesis shrinks what it finds, and the
        # fixed sets below cover the values a probe holds.

        def prop(a: Any, pair: _Pair = pair, record: dict[str, Any] = record) -> str | None:
            return _reason(pair.judge(a, second is None, record))

        found = falsify(strategy, prop, ctx.profile)
        findings += sorted(pair.notes - set(findings))
        if found is not None:
            example = found[0]
            reason, details = pair.judge(example, second is None, record) or (found[1], {})
            return failed(reason, details={"reference": target, "dtype": name, **details, "worst": worst},
                          smallest_input=_plain(example), findings=findings)
        # The fixed sets put one value at each position: an output of another shape has
        # no value per position to hold against it (a gated SwiGLU halves the input).
        for label, values, limit in _value_sets(subject, dtype, required) if positionwise else ():
            problem, beyond = pair.judge_values(values, limit, record)
            findings += [f"{label}: {b}" for b in beyond]
            if problem is not None:
                reason, details = problem
                return failed(f"{reason} ({label})", details={"reference": target, "dtype": name, **details,
                                                             "worst": worst},
                              smallest_input=[details["x"]], findings=findings)
    if any(f.startswith(f"{SECOND} not compared") for f in findings):
        compared = [c for c in compared if c != SECOND]
    inputs = f"drawn inputs, special values, |x| up to {required:g}, every finite 16-bit value" if positionwise \
        else "drawn inputs: the output has another shape than the input"
    return passed(f"{', '.join(compared)} match {target} in {', '.join(worst)} ({inputs})",
                  details={"reference": target, "worst": worst, "required_range": required}, findings=findings)


def _runs_only_on_cuda(subject: Subject, device: str) -> bool:
    """Whether the subject cannot be called on the run's CPU because its kernel exists
    only for CUDA (the subject adapter finds its input layout by calling it on the CPU)."""
    if device != "cpu":
        return False
    try:
        subject.base_shape  # noqa: B018 (the first call on the subject)
    except ShapeError:
        # Its message is cut short: call the subject as built once more for torch's whole message.
        try:
            subject.factory()(torch.zeros(2, 4, 3))
        except Exception as exc:
            return bool(_CUDA_ONLY.search(str(exc)))
    return False


def _second_order(subject: Subject, reference: Subject) -> str | None:
    """Why second derivatives are not compared (None: they are)."""
    for who, s in (("the subject", subject), ("the reference", reference)):
        if s.once_differentiable:
            return f"{who}'s backward is once_differentiable"
    return None


def _reason(problem: Problem | None) -> str | None:
    return None if problem is None else problem[0]


def _plain(example: Any) -> Any:
    return example.tolist() if hasattr(example, "tolist") else example


def _value_sets(subject: Subject, dtype: torch.dtype, required: float) -> list[tuple[str, Tensor, float]]:
    """The fixed inputs, each with the |x| beyond which a mismatch is a finding, not a
    failure: the special values (always judged), log-spaced magnitudes out to the
    required range (both signs, `stability`'s grid) and, in a 16-bit dtype, every
    finite value. Each set in float64, every value exact in ``dtype``, inside the
    subject's domain."""
    lo, hi = _inside(*subject.domain())
    top = torch.finfo(dtype).max
    per = tol.STABILITY_POINTS_PER_DECADE
    last = math.log10(min(required, top))
    k = torch.arange(math.ceil(math.log10(tol.STABILITY_MIN_ABS) * per), math.floor(last * per) + 1,
                     dtype=torch.float64)
    mags = torch.cat([10.0 ** (k / per), torch.tensor([min(required, top)], dtype=torch.float64)])
    sets = [("special values", torch.tensor([0.0, -0.0, math.inf, -math.inf, math.nan], dtype=torch.float64),
             math.inf),
            (f"log-spaced |x| up to {min(required, top):g}", torch.cat([-mags.flip(0), mags]), math.inf)]
    if dtype in tol.EXHAUSTIVE_DTYPES:
        bits = torch.arange(-(1 << 15), 1 << 15, dtype=torch.int32).to(torch.int16)
        every = bits.view(dtype)
        sets.append((f"every finite {dtype_name(dtype)} value", every[torch.isfinite(every)].double(), required))
    out = []
    for label, values, limit in sets:
        values = torch.unique(values.to(dtype).double(), sorted=True) if label != "special values" else values
        keep = values.isnan() | ((values >= lo) & (values <= hi)) if label == "special values" else \
            (values > lo) & (values < hi)
        out.append((label, values[keep], limit))
    return out


@dataclass
class _Side:
    """One implementation at one dtype: the callable and its compared parameters."""

    fn: Any
    params: list[tuple[str, Tensor]]


class _Pair:
    """The subject in ``dtype``, the reference in float64 (the truth) and the reference
    in ``dtype`` (how inexact the obvious code is there), with the subject's parameter
    values copied into both references where the names match."""

    def __init__(self, subject: Subject, reference: Subject, dtype: torch.dtype, device: str,
                 kinks: Sequence[float]) -> None:
        self.subject, self.dtype, self.device, self.kinks = subject, dtype, device, list(kinks)
        fast = subject.instance(dtype, device)
        mine = dict(subject.parameters(fast))
        truth = reference.instance(torch.float64, device)
        naive = truth if dtype == torch.float64 else reference.instance(dtype, device)
        theirs = dict(reference.parameters(truth))
        self.names = [n for n, p in mine.items() if n in theirs and theirs[n].shape == p.shape]
        self.unmatched = [f"the subject's parameter {n!r} {tuple(p.shape)} has no counterpart of that name and shape "
                          "in the reference: its gradient is not compared" for n, p in mine.items()
                          if n not in self.names]
        for module in {id(truth): truth, id(naive): naive}.values():
            _copy_state(fast, module)
        self.fast = _Side(fast, [(n, mine[n]) for n in self.names])
        self.truth = _Side(truth, [(n, dict(reference.parameters(truth))[n]) for n in self.names])
        self.naive = _Side(naive, [(n, dict(reference.parameters(naive))[n]) for n in self.names])
        # What could not be compared on some input (a backward that is not differentiable).
        self.notes: set[str] = set()

    def output_shape(self, x: Tensor) -> tuple[int, ...]:
        """The shape of the subject's output for ``x`` (another for a gated or
        concatenating activation)."""
        with torch.no_grad():
            return tuple(self.truth.fn(x.double().clone()).shape)

    # -- drawn inputs ------------------------------------------------------------------
    def judge(self, example: Any, second: bool, worst: dict[str, Any]) -> Problem | None:
        """Every compared quantity on one drawn input (in the subject's layout)."""
        x = to_tensor(example, self.dtype, self.device)
        on_kink = _on_kink(x, self.kinks)
        # An element that rounding put on a kink adds nothing to any gradient: the value
        # of a derivative there is a convention, the `kinks` check's business.
        gy = upstream_grad(self.output_shape(x), self.dtype, self.device)
        if gy.shape == x.shape:
            gy = gy.masked_fill(on_kink, 0.0)
        gy2 = upstream_grad(x.shape, self.dtype, self.device, seed=1).masked_fill(on_kink, 0.0) if second else None
        got = _evaluate(self.fast, x, gy, gy2)
        truth = _evaluate(self.truth, x.double(), gy.double(), None if gy2 is None else gy2.double())
        naive = truth if self.dtype == torch.float64 else _evaluate(self.naive, x, gy, gy2)
        for who, side in (("the subject", got), ("the reference", truth)):
            if second and side[SECOND] is None:
                self.notes.add(f"second derivative not compared: {who}'s backward is not differentiable "
                               "(gradgradcheck judges that)")
        scales = self._param_scales(x.double(), gy.double())
        for what, value in got.items():
            expected, plain = truth[what], naive[what]
            if value is None or expected is None or plain is None:
                continue
            mask = on_kink if value.shape == x.shape else None
            problem = self._compare(what, x, value, expected, plain, scales.get(what, 1.0), mask, worst)
            if problem is not None:
                return problem
        return None

    def _param_scales(self, x: Tensor, gy: Tensor) -> dict[str, float]:
        """Per parameter, the size of the terms its gradient sums, sum |gy * dy/dtheta|
        over the elements (at least 1), from a forward difference of the float64
        reference: a sum of many terms is allowed the roundings of its terms, not of
        its total, which may cancel to near 0."""
        out = {}
        with torch.no_grad():
            y = self.truth.fn(x.clone())
            for name, p in self.truth.params:
                h = 1e-7 * max(1.0, float(p.detach().abs().max()))
                kept = p.detach().clone()
                p.add_(h)
                dy = (self.truth.fn(x.clone()) - y) / h
                p.copy_(kept)
                total = float((gy * dy).abs().nan_to_num(nan=0.0, posinf=0.0, neginf=0.0).sum())
                out[f"gradient of {name}"] = max(total, 1.0)
        return out

    # -- fixed value sets ----------------------------------------------------------------
    def judge_values(self, values: Tensor, limit: float, worst: dict[str, Any]) -> tuple[Problem | None, list[str]]:
        """The output and input gradient at each value on every channel. A mismatch at
        |x| <= ``limit`` is a problem; beyond it, a finding (as `stability`'s breaks)."""
        if values.numel() == 0:
            return None, []
        x = lay(self.subject, values.to(self.device, self.dtype))
        gy = upstream_grad(x.shape, self.dtype, self.device)
        gy = gy.masked_fill(_on_kink(x, self.kinks), 0.0)
        sides: list[dict[str, Tensor]] = []
        for side, dt in ((self.fast, self.dtype), (self.truth, torch.float64), (self.naive, self.dtype)):
            if side is self.naive and self.dtype == torch.float64:
                sides.append(sides[1])
                continue
            leaf = x.to(dt).detach().requires_grad_()
            y = call(self.subject, side.fn, leaf)
            g = torch.autograd.grad(y, leaf, gy.to(y.dtype), allow_unused=True)[0] if y.requires_grad else None
            g = torch.zeros_like(leaf) if g is None else g
            sides.append({OUTPUT: by_channel(self.subject, y.detach(), values.numel()),
                          GRADIENT: by_channel(self.subject, g.detach(), values.numel())})
        got, truth, naive = sides
        xs = by_channel(self.subject, x.double(), values.numel())
        on_kink = _on_kink(xs.to(self.dtype), self.kinks)
        beyond: list[str] = []
        for what in (OUTPUT, GRADIENT):
            inside = xs.abs() <= limit
            problem = self._compare(what, xs, got[what], truth[what], naive[what], 1.0, on_kink | ~inside, worst)
            if problem is not None:
                return problem, beyond
            far = self._compare(what, xs, got[what], truth[what], naive[what], 1.0, on_kink | inside, {})
            if far is not None:
                beyond.append(f"{far[0]}, beyond the required |x| <= {limit:g}")
        return None, beyond

    # -- the verdict on one quantity -----------------------------------------------------
    def _compare(self, what: str, x: Tensor, got: Tensor, truth: Tensor, naive: Tensor, scale: float,
                 ignore: Tensor | None, worst: dict[str, Any]) -> Problem | None:
        """The worst element of one quantity, recorded in ``worst``; a problem when it is
        further from the float64 truth than the dtype allows."""
        got, truth, naive = got.double(), truth.double(), naive.double()
        excess = _excess(got / scale, truth / scale, naive / scale, self.dtype)
        # No verdict where the reference is NaN or overflows the dtype (unless the subject
        # gives NaN there), nor where the reference run in the dtype is not finite either.
        top = torch.finfo(self.dtype).max * (1 - tol.OVERFLOW_ULPS * tol.EPS[self.dtype])
        no_standard = truth.isnan() | ((truth.abs() >= top) & ~got.isnan()) | (~naive.isfinite() & ~got.isfinite())
        if ignore is not None:
            no_standard |= ignore
        excess = excess.masked_fill(no_standard, -math.inf)
        if excess.numel() == 0:
            return None
        i = int(excess.flatten().argmax())
        if float(excess.flatten()[i]) == -math.inf:
            return None
        a, t = float(got.flatten()[i]), float(truth.flatten()[i])
        ulps = float(ulps_apart(got.flatten()[i:i + 1].to(self.dtype), truth.flatten()[i:i + 1], scale)[0])
        where = {"x": float(x.flatten()[i])} if got.shape == x.shape else {}
        record = {**where, "got": a, "expected": t, "ulps": ulps}
        if ulps > worst.get(what, {}).get("ulps", -1.0):
            worst[what] = record
        if float(excess.flatten()[i]) <= 0:
            return None
        at = f" at x={where['x']:.6g}" if where else ""
        return (f"{what} in {dtype_name(self.dtype)} off{at}: got {a:.6g}, reference {t:.6g} ({ulps:.3g} ulps)",
                {"quantity": what, **record})


def _copy_state(source: Any, target: Any) -> None:
    """The subject's parameters and buffers into the reference where names and shapes
    match (the reference then computes the function the subject claims to)."""
    if not (isinstance(source, nn.Module) and isinstance(target, nn.Module)):
        return
    mine = {**dict(source.named_parameters()), **dict(source.named_buffers())}
    theirs = {**dict(target.named_parameters()), **dict(target.named_buffers())}
    with torch.no_grad():
        for name, t in theirs.items():
            s = mine.get(name)
            if s is not None and s.shape == t.shape and t.is_floating_point():
                t.copy_(s)


def _evaluate(side: _Side, x: Tensor, gy: Tensor, gy2: Tensor | None) -> dict[str, Tensor | None]:
    """The output, the input gradient and each compared parameter's gradient of
    ``<f(x), gy>``, and with ``gy2`` the second derivative ``d<f'(x) gy, gy2>/dx``
    (None where the backward is not differentiable)."""
    leaf = x.detach().clone().requires_grad_()
    y = side.fn(leaf.clone())
    out: dict[str, Tensor | None] = {OUTPUT: y.detach()}
    inputs = [leaf, *(p for _, p in side.params)]
    grads: Sequence[Tensor | None] = [None] * len(inputs)
    if y.requires_grad:
        grads = torch.autograd.grad(y, inputs, gy.to(y.dtype), allow_unused=True, create_graph=gy2 is not None)
    out[GRADIENT] = torch.zeros_like(leaf) if grads[0] is None else grads[0].detach()
    for (name, p), g in zip(side.params, grads[1:], strict=True):
        out[f"gradient of {name}"] = torch.zeros_like(p) if g is None else g.detach()
    if gy2 is not None:
        gx = grads[0]
        g2 = None
        if gx is not None and gx.requires_grad:
            (g2,) = torch.autograd.grad(gx, leaf, gy2.to(gx.dtype), allow_unused=True)
            g2 = torch.zeros_like(leaf) if g2 is None else g2
        out[SECOND] = None if g2 is None else g2.detach()
    return out
