"""`elementwise`: each output depends only on the input at the same position, through
one function shared by every sample (and every position of a channel).

On a drawn float64 input (batch first, channels at dimension 1):

* nudging one input element (by :data:`~verify.tolerances.ELEMENTWISE_NUDGE`) moves
  no other output, for every element in turn;
* a slice of the batch gives the rows of the whole: f(x)[i] == f(x[i:i+1])[0];
* reversing the batch reverses the output, and so does reversing every position of a
  channel (all dimensions but 1) and, unless the function may differ between channels
  (a per-channel parameter, a spec's ``channelwise``), every position at all.

A gated or vector-valued subject (:mod:`verify.layout`) is held to its own locality:
nudging an input moves only the outputs of its vector (for gated halves, the outputs
of its a_i or b_i); a subject inferred as mixing fails, unless its layout is stated.

A subject with no spec that differs between channels only (bipolar activations written
as a plain function) passes as channelwise, with a note. Results are compared within
:data:`~verify.tolerances.LAYOUT_ULPS`, since a slice or a permutation moves elements
between vectorised and scalar loops. A spec that declares ``elementwise=False`` is
skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from verify import tolerances as tol
from verify.checks._grad import sample_strategy
from verify.checks._layout import (
    Problem,
    channel_dependent,
    dtype_name,
    position,
    probe_input,
    search,
    ulps_apart,
    worst,
)
from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.layout import allowed
from verify.strategies import to_tensor
from verify.subject import Subject

DTYPE = torch.float64


@check("elementwise", cost_s=0.1)
def check_elementwise(subject: Subject, ctx: Context) -> Outcome:
    """Each output position depends only on the same input position, by one shared function."""
    layout = subject.layout
    if layout.kind == "mixing" and layout.stated:
        return skipped("the layout is stated as mixing: outputs may depend on any input")
    kind = "elementwise" if layout.kind == "mixing" else layout.kind
    if kind == "elementwise" and subject.output_shape != tuple(subject.base_shape):
        return skipped(subject.not_positionwise or "the output has another shape than the input")
    if subject.spec is not None and not subject.spec.elementwise:
        return skipped(f"{subject.name} declares elementwise=False")
    fn = subject.instance(DTYPE, ctx.device)
    declared = subject.spec is not None
    # Outputs of one vector may differ from each other by design.
    chan = channel_dependent(subject) or kind != "elementwise"
    domain = subject.domain()
    inferred: list[bool] = []

    def call(x: Tensor) -> Tensor:
        # A copy each time: a subject built in place must not overwrite the input.
        with torch.no_grad():
            return fn(x.clone())

    def first_problem(a: Any) -> Problem | None:
        x = to_tensor(a, DTYPE, ctx.device)
        y = call(x)
        if not isinstance(y, Tensor) or y.dim() != x.dim() or (kind == "elementwise" and y.shape != x.shape):
            return (f"returned {getattr(y, 'shape', type(y).__name__)} for an input of shape {tuple(x.shape)}",
                    {"property": "shape"})
        for problem in (_locality(call, x, y, domain, kind), _batch(call, x, y)):
            if problem is not None:
                return problem
        if x.dim() >= 2:
            within = _flip(call, x, y, [d for d in range(x.dim()) if d != 1], "every position of a channel")
            if within is not None:
                return within
        if chan:
            return None  # channels may differ
        anywhere = _flip(call, x, y, None, "every position")
        if anywhere is not None and not declared and x.dim() >= 2:
            inferred.append(True)  # the same within each channel, different between them
            return None
        return anywhere

    found = search(sample_strategy(subject, None), first_problem, ctx.profile, probe_input(subject))
    details: dict[str, Any] = {
        "kind": layout.kind,
        "dtype": dtype_name(DTYPE),
        "nudge": tol.ELEMENTWISE_NUDGE,
        "channelwise": _channelwise(subject, chan, bool(inferred)),
    }
    if found is not None:
        example, (reason, more) = found
        if layout.kind == "mixing":
            reason += (" (the subject is neither elementwise, gated nor vector-valued; if it mixes on purpose, "
                       "state it: --layout mixing)")
        return failed(reason, details={**details, **more}, smallest_input=example)
    if inferred:
        details["note"] = ("the function differs between channels but is the same within each; "
                           "with no spec to say so it is taken as channelwise")
    if kind != "elementwise":
        own = "its a_i and b_i" if kind == "gated" else "its own vector"
        return passed(f"each output depends only on {own}, by one function for every position", details=details)
    shared = "one function per channel" if chan or inferred else "one function for every position"
    return passed(f"each output depends only on its own input, by {shared}", details=details)


def _channelwise(subject: Subject, chan: bool, inferred: bool) -> str:
    if chan:
        return "declared" if subject.spec is not None else "per-channel parameters"
    return "inferred" if inferred else "no"


def _apart(got: Tensor, want: Tensor) -> tuple[float, tuple[int, ...]] | None:
    """The worst difference and where, when beyond the layout bound."""
    d, where = worst(ulps_apart(got, want, tol.LAYOUT_SCALE))
    return (d, where) if d > tol.LAYOUT_ULPS[DTYPE] else None


def _locality(call: Callable[[Tensor], Tensor], x: Tensor, y: Tensor,
              domain: tuple[float, float], kind: str = "elementwise") -> Problem | None:
    """Nudge each element in turn; no output the kind does not allow may move."""
    flat = x.flatten()
    may = allowed(kind, tuple(x.shape), tuple(y.shape), 1 if x.dim() >= 2 else 0)
    for k in range(flat.numel()):
        step = tol.ELEMENTWISE_NUDGE if float(flat[k]) + tol.ELEMENTWISE_NUDGE < domain[1] else -tol.ELEMENTWISE_NUDGE
        nudged = flat.clone()
        nudged[k] += step
        moved = call(nudged.reshape(x.shape)).flatten()
        d = ulps_apart(moved, y.flatten(), tol.LAYOUT_SCALE)
        d[may[:, k]] = 0.0
        most, where = worst(d)
        if most > tol.LAYOUT_ULPS[DTYPE]:
            j = where[0]
            other = "other positions" if kind == "elementwise" else "inputs outside their own vector"
            return (
                f"nudging the input at {position(x, k)} by {step:g} moved the output at {position(y, j)} "
                f"from {float(y.flatten()[j]):.6g} to {float(moved[j]):.6g}: outputs depend on {other}",
                {"property": "locality", "nudged_at": list(position(x, k)), "moved_at": list(position(y, j)),
                 "step": step},
            )
    return None


def _batch(call: Callable[[Tensor], Tensor], x: Tensor, y: Tensor) -> Problem | None:
    """A slice of the batch gives the same rows; reversing the batch reverses the output."""
    if x.dim() < 2:
        return None
    for i in range(x.shape[0]):
        bad = _apart(call(x[i:i + 1])[0], y[i])
        if bad is not None:
            return (
                f"f(x[{i}:{i + 1}])[0] differs from f(x)[{i}] by {bad[0]:.3g} ulps at {bad[1]}: "
                "a sample's output depends on the rest of the batch or on its place in it",
                {"property": "batch slicing", "sample": i, "ulps": bad[0], "at": list(bad[1])},
            )
    return _flip(call, x, y, [0], "the batch")


def _flip(call: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, dims: list[int] | None,
          what: str) -> Problem | None:
    """Reversing ``dims`` (every element when None) of the input reverses the output."""
    if dims is None:
        def rev(t: Tensor) -> Tensor:
            return t.flatten().flip(0).reshape(t.shape)
    else:
        def rev(t: Tensor) -> Tensor:
            return t.flip(dims) if dims else t
    bad = _apart(call(rev(x)), rev(y))
    if bad is None:
        return None
    return (
        f"reversing {what} does not reverse the output (off by {bad[0]:.3g} ulps at {bad[1]}): "
        "the function differs between positions",
        {"property": f"permutation of {what}", "ulps": bad[0], "at": list(bad[1])},
    )

