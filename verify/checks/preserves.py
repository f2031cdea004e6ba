"""`preserves`: the output keeps the input's shape, dtype and device, and the input
gradient its dtype, on every layout a model feeds an activation.

For every dtype (float64 and the run's dtypes) and a drawn input, the contiguous call
is the baseline; then a batch of one, a 0-d tensor, an empty tensor (batch 0, channel
dimension intact), a non-contiguous view and a channels-last 4-d tensor must give the
same shapes, dtypes and device, and the baseline's values (output and input gradient)
within :data:`~verify.tolerances.LAYOUT_ULPS`. A layout the subject cannot take by its
nature (0-d for a per-channel or channelwise function, 4-d for one that takes only
2-d inputs) is skipped with a note. In float64 and float32 the input gradient must
also carry the dtype's precision: autograd casts a gradient back to the input's dtype
without a word, so a backward computed in float32 shows only as rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from verify import tolerances as tol
from verify.checks._grad import sample_strategy
from verify.checks._layout import (
    CALL_ERRORS,
    Fn,
    Problem,
    channel_dependent,
    describe,
    dtype_name,
    first_line,
    noncontiguous,
    probe_input,
    search,
    tracked_copy,
    ulps_apart,
    value_and_grads,
    worst,
)
from verify.checks.base import Context, Outcome, check, failed, passed, short, skipped
from verify.strategies import to_tensor
from verify.subject import Subject

# The dtypes whose gradient must not be exactly representable in a narrower one.
NARROWER = {torch.float64: (torch.float32,), torch.float32: (torch.bfloat16, torch.float16)}


@dataclass(frozen=True)
class Layout:
    """One way to lay out an input, with the results it must reproduce."""

    name: str
    x: Tensor
    y: Tensor | None  # the expected output values (None: only shape and dtype)
    g: Tensor | None
    # Whether the subject may refuse this layout by its nature (then a note, not a fail).
    may_refuse: bool = False


@check("preserves", cost_s=0.15)
def check_preserves(subject: Subject, ctx: Context) -> Outcome:
    """Output shape, dtype, device and the input gradient's dtype follow the input, on every layout."""
    # A vector-valued subject that keeps the shape (softmax) is judged too; its outputs
    # differ along the features by design.
    vector = subject.layout.kind == "vector" and subject.output_shape == tuple(subject.base_shape)
    if subject.not_positionwise is not None and not vector:
        return skipped(subject.not_positionwise)
    dtypes = tuple(dict.fromkeys((torch.float64, *ctx.dtypes)))
    fns = {dt: subject.instance(dt, ctx.device) for dt in dtypes}
    accepts = _Accepts(channel_dependent(subject) or vector, subject.accepted_ranks, subject.broadcast_shapes,
                       vector)
    seen = _Seen()

    def first_problem(a: Any) -> Problem | None:
        for dt in dtypes:
            problem = _judge(fns[dt], to_tensor(a, dt, ctx.device), accepts, seen)
            if problem is not None:
                return f"{dtype_name(dt)}, {problem[0]}", {"dtype": dtype_name(dt), **problem[1]}
        return None

    found = search(sample_strategy(subject, None), first_problem, ctx.profile, probe_input(subject))
    details: dict[str, Any] = {
        "dtypes": [dtype_name(dt) for dt in dtypes],
        "layouts": sorted(seen.tested),
        "not_tested": dict(sorted(seen.refused.items())),
        "max_ulps_by_layout": dict(sorted(seen.max_ulps.items())),
    }
    if found is not None:
        example, (reason, more) = found
        return failed(reason, details={**details, **more}, smallest_input=example, findings=sorted(seen.findings))
    skipped_note = f"; not tested: {', '.join(seen.refused)}" if seen.refused else ""
    return passed(
        f"shape, dtype, device and gradient dtype kept on {len(seen.tested)} layouts in {len(dtypes)} dtypes"
        + skipped_note,
        details=details,
        findings=sorted(seen.findings),
    )


@dataclass(frozen=True)
class _Accepts:
    """The layout the subject accepts: whether it may differ between channels, the
    input ranks on which it keeps the shape, and what an input's shape becomes when
    broadcast against each of its parameters."""

    chan: bool
    ranks: tuple[int, ...]
    broadcast: Callable[[tuple[int, ...]], list[tuple[int, ...]]]
    # A vector-valued subject: a 0-d input is a vector of one, with values of its own.
    vector: bool = False


class _Seen:
    """What the search saw, over all examples: for the details."""

    def __init__(self) -> None:
        self.tested: set[str] = set()
        self.refused: dict[str, str] = {}
        self.max_ulps: dict[str, float] = {}
        self.findings: set[str] = set()

    def ulps(self, layout: str, d: float) -> None:
        self.max_ulps[layout] = max(self.max_ulps.get(layout, 0.0), d)


def _judge(fn: Fn, x: Tensor, accepts: _Accepts, seen: _Seen) -> Problem | None:
    """The first broken promise on input ``x`` in its dtype, or None."""
    dtype = x.dtype
    leaf, inp = tracked_copy(x)
    y, (g,) = value_and_grads(fn, inp, wrt=leaf)
    problem = _conforms("contiguous input", x, y, g)
    if problem is not None:
        return problem
    assert g is not None
    problem = _precision(g, dtype)
    if problem is not None:
        return problem
    seen.tested.add("contiguous")
    chan = accepts.chan
    if x.dim() < 2 and chan:
        seen.refused["empty"] = "the subject's input is one sample of channels: no batch dimension to empty"
    if x.dim() >= 2 and 4 not in accepts.ranks:
        ranks = ", ".join(map(str, accepts.ranks)) or "none"
        seen.refused["4-d"] = seen.refused["channels-last"] = \
            f"the subject keeps the shape only of inputs of rank {ranks} (its parameters fix the layout)"
    for layout in _layouts(fn, x.detach(), y.detach(), g, chan, 4 in accepts.ranks or x.dim() < 2, accepts.vector):
        leaf, inp = tracked_copy(layout.x)
        try:
            y_l, (g_l,) = value_and_grads(fn, inp, wrt=leaf)
        except CALL_ERRORS as exc:
            if layout.may_refuse:
                seen.refused[layout.name] = f"the subject refuses it ({first_line(exc)})"
                continue
            return (f"{layout.name} input {describe(layout.x)}: raised {first_line(exc)}",
                    {"layout": layout.name, "error": first_line(exc), "layout_input": short(layout.x)})
        if isinstance(y_l, Tensor) and y_l.shape != layout.x.shape \
                and tuple(y_l.shape) in accepts.broadcast(tuple(layout.x.shape)):
            seen.refused[layout.name] = (f"the subject broadcasts it against its parameters "
                                         f"(output {tuple(y_l.shape)})")
            seen.findings.add(f"a {layout.name} input of shape {tuple(layout.x.shape)} gives an output of shape "
                              f"{tuple(y_l.shape)}: broadcast against a parameter of the subject")
            continue
        problem = _conforms(f"{layout.name} input", layout.x, y_l, g_l)
        if problem is not None:
            return problem[0], {**problem[1], "layout": layout.name, "layout_input": short(layout.x)}
        seen.tested.add(layout.name)
        if layout.name == "channels-last" and not y_l.is_contiguous(memory_format=torch.channels_last):
            seen.findings.add("the output of a channels-last input is not channels-last (a copy on every call)")
        for what, got, want in (("output", y_l.detach(), layout.y), ("input gradient", g_l, layout.g)):
            if want is None or got is None:
                continue
            d, where = worst(ulps_apart(got, want, tol.LAYOUT_SCALE))
            seen.ulps(layout.name, d)
            if d > tol.LAYOUT_ULPS[dtype]:
                return (
                    f"{layout.name} input: {what} differs from the contiguous call by {d:.3g} ulps at {where}, "
                    f"x = {float(layout.x[where]):.6g} ({float(got[where]):.6g} vs {float(want[where]):.6g})",
                    {"layout": layout.name, "what": what, "ulps": d, "at": list(where),
                     "bound_ulps": tol.LAYOUT_ULPS[dtype], "layout_input": short(layout.x)},
                )
    return None


def _conforms(what: str, x: Tensor, y: Any, g: Tensor | None) -> Problem | None:
    if not isinstance(y, Tensor):
        return f"{what}: returned {type(y).__name__}, not a tensor", {"output": describe(y)}
    for attr in ("shape", "dtype", "device"):
        if getattr(y, attr) != getattr(x, attr):
            return (
                f"{what}: output {attr} {_show(getattr(y, attr))} for an input of {_show(getattr(x, attr))}",
                {"input": describe(x), "output": describe(y)},
            )
    if g is None:
        return f"{what}: the output carries no gradient back to the input", {"input": describe(x)}
    if g.dtype != x.dtype or g.shape != x.shape:
        return (f"{what}: input gradient is {describe(g)} for an input of {describe(x)}",
                {"input": describe(x), "gradient": describe(g)})
    return None


def _show(v: Any) -> str:
    if isinstance(v, torch.dtype):
        return dtype_name(v)
    if isinstance(v, torch.Size):
        return str(tuple(v))
    return str(v)


def _precision(g: Tensor, dtype: torch.dtype) -> Problem | None:
    """A gradient whose nonzero entries all survive a round trip through a narrower
    dtype was computed in it (see ``PRECISION_EVIDENCE``)."""
    vals = g[(g != 0) & torch.isfinite(g)]
    if vals.numel() < tol.PRECISION_EVIDENCE:
        return None
    for narrow in NARROWER.get(dtype, ()):
        if torch.equal(vals.to(narrow).to(dtype), vals):
            return (
                f"the input gradient is rounded to {dtype_name(narrow)}: the backward computes in a narrower "
                "dtype and autograd casts the result back (or it ignores the incoming gradient)",
                {"gradient_precision": dtype_name(narrow), "nonzero_entries": int(vals.numel())},
            )
    return None


def _layouts(fn: Fn, x: Tensor, y: Tensor, g: Tensor, chan: bool, four_d: bool,
             vector: bool = False) -> Iterator[Layout]:
    """Each layout of the values of ``x`` with the results it must reproduce (the 4-d
    ones only when the subject takes rank 4; a vector-valued subject's 0-d input only
    its shape and dtype)."""
    if x.dim() >= 2:
        yield Layout("batch of one", x[:1].clone(), y[:1], g[:1])
    yield Layout("0-d", x.flatten()[0].clone(), None if vector else y.flatten()[0], None if vector else g.flatten()[0],
                 may_refuse=chan)
    if x.dim() >= 2 or not chan:
        empty = (0, *x.shape[1:]) if x.dim() >= 2 else (0,)
        yield Layout("empty", x.new_zeros(empty), None, None)
    yield Layout("non-contiguous", noncontiguous(x), y, g)
    if four_d:
        yield from _channels_last(fn, x)


def _channels_last(fn: Fn, x: Tensor) -> Iterator[Layout]:
    """A 4-d input (batch, channels, 3, 2) from the values of ``x``, contiguous as the
    baseline (refusal allowed: the subject may take only fewer dimensions) and then
    channels-last."""
    channels = x.shape[1] if x.dim() >= 2 else 3
    shape = (2, channels, 3, 2)
    values = np.resize(x.detach().cpu().double().numpy().ravel(), shape)
    x4 = torch.as_tensor(values).to(device=x.device, dtype=x.dtype)
    base = Layout("4-d", x4, None, None, may_refuse=True)
    yield base
    leaf, inp = tracked_copy(x4)
    try:
        y4, (g4,) = value_and_grads(fn, inp, wrt=leaf)
    except CALL_ERRORS:
        return  # refused: the 4-d layout above already records why
    yield Layout("channels-last", x4.contiguous(memory_format=torch.channels_last), y4.detach(), g4)

