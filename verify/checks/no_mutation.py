"""`no_mutation`: an out-of-place call leaves its input bitwise unchanged, in the
forward and in the backward, and the backward leaves the incoming gradient unchanged.

On drawn inputs in float64 and the run's dtypes, the input is compared bit for bit
with a clone taken before the call, and its version counter (``x._version``, which
every in-place write bumps, even one that rewrites the same values) must not move:
first on a plain tensor, then on a tensor in an autograd graph (a copy of a leaf, so
that an in-place write shows as data rather than autograd's leaf error), after the
forward and again after the backward. A subject built in place (a module with
``inplace=True``) is tested with ``inplace=False``: its in-place form is the
``inplace`` check's business, and so is a subject that always works in place (a
Function that overwrites its input and marks it dirty): it is skipped. One that writes
into its input without marking it dirty is a mutation and fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from verify.checks._grad import sample_strategy
from verify.checks._layout import (
    Fn,
    Problem,
    dtype_name,
    out_of_place,
    probe_input,
    same_bits,
    search,
    tracked_copy,
    upstream_grad,
    worst,
)
from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.strategies import paired, to_tensor
from verify.subject import Subject


@check("no_mutation")
def check_no_mutation(subject: Subject, ctx: Context) -> Outcome:
    """An out-of-place call leaves its input, and the incoming gradient, bitwise unchanged."""
    if subject.always_inplace:
        return skipped("the subject works in place by design (it overwrites its input and marks it dirty); "
                       "the inplace check holds it to the in-place properties")
    dtypes = tuple(dict.fromkeys((torch.float64, *ctx.dtypes)))
    built = {dt: out_of_place(subject.instance(dt, ctx.device)) for dt in dtypes}
    fns = {dt: fn for dt, (fn, _) in built.items()}
    note = built[torch.float64][1]

    def first_problem(example: tuple[Any, torch.dtype]) -> Problem | None:
        a, dt = example
        problem = _mutates(fns[dt], to_tensor(a, dt, ctx.device))
        if problem is None:
            return None
        return f"{dtype_name(dt)}: {problem[0]}", {"dtype": dtype_name(dt), **problem[1]}

    found = search(paired(sample_strategy(subject, None), tuple(dtypes)), first_problem, ctx.profile,
                   (probe_input(subject), dtypes[0]))
    details: dict[str, Any] = {"dtypes": [dtype_name(dt) for dt in dtypes]}
    if note:
        details["note"] = note
    if found is not None:
        (example, _), (reason, more) = found
        return failed(reason, details={**details, **more}, smallest_input=example)
    return passed(f"input and incoming gradient unchanged, forward and backward ({len(dtypes)} dtypes)",
                  details=details)


def _mutates(fn: Fn, x: Tensor) -> Problem | None:
    """How a call changed its input or the incoming gradient, or None."""
    plain = x.clone()
    with torch.no_grad():
        problem = _watch("the forward (no grad)", lambda: fn(plain), input=plain)
    if problem is not None:
        return problem
    leaf, inp = tracked_copy(x)
    out: list[Tensor] = []
    problem = _watch("the forward", lambda: out.append(fn(inp)), input=inp)
    if problem is not None or not out[0].requires_grad:
        return problem
    y = out[0]
    gy = upstream_grad(y.shape, y.dtype, y.device)
    return _watch("the backward", lambda: torch.autograd.grad(y, [leaf], gy, allow_unused=True),
                  input=inp, **{"incoming gradient": gy})


def _watch(when: str, call: Callable[[], object], **watched: Tensor) -> Problem | None:
    """Run ``call`` and say how it changed a watched tensor (values or version counter)."""
    before = {what: (t.detach().clone(), t._version) for what, t in watched.items()}
    call()
    for what, t in watched.items():
        old, version = before[what]
        t = t.detach()
        if not same_bits(t, old):
            same = ((t == old) & (torch.signbit(t) == torch.signbit(old))) | (torch.isnan(t) & torch.isnan(old))
            n, where = int((~same).sum()), worst((~same).double())[1]
            return (
                f"{when} wrote into its {what}: {n} of {t.numel()} elements changed "
                f"(at {where}: {float(old[where]):.6g} became {float(t[where]):.6g})",
                {"when": when, "what": what, "changed_elements": n, "at": list(where)},
            )
        if watched[what]._version != version:
            return (
                f"{when} wrote into its {what} in place (version counter {version} -> {watched[what]._version}, "
                "values unchanged)",
                {"when": when, "what": what, "version_before": version, "version_after": watched[what]._version},
            )
    return None
