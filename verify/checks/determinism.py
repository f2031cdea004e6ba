"""`determinism`: repeated forward and backward passes on the same input are bitwise
equal.

The same instance is called :data:`~verify.tolerances.DETERMINISM_REPEATS` times on
one input, forward and backward (input and parameter gradients, one fixed incoming
gradient), in float64 and float32; every run must equal the first bit for bit (NaN
equals NaN). Drawn inputs find value-dependent randomness; one extra float32 input of
:data:`~verify.tolerances.DETERMINISM_LARGE_NUMEL` elements lets a parallel reduction
(a parameter gradient summed by threads, atomics on a GPU) show its order. Modules are
in eval mode, so a documented training-time randomness (RReLU, dropout) is not judged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from verify import tolerances as tol
from verify.checks._grad import sample_strategy
from verify.checks._layout import (
    Fn,
    Problem,
    dtype_name,
    probe_input,
    same_bits,
    search,
    tracked_copy,
    ulps_apart,
    value_and_grads,
    worst,
)
from verify.checks.base import Context, Outcome, check, failed, passed
from verify.strategies import domain_range, paired, to_tensor
from verify.subject import Subject

DTYPES = (torch.float64, torch.float32)
# The large input runs in the dtype models train in: reduction order is the same
# question in every dtype, and float64 would double the cost.
LARGE_DTYPE = torch.float32


@check("determinism")
def check_determinism(subject: Subject, ctx: Context) -> Outcome:
    """Repeated forward and backward passes on the same input are bitwise equal."""
    fns = {dt: subject.instance(dt, ctx.device) for dt in DTYPES}

    def first_problem(example: tuple[Any, torch.dtype]) -> Problem | None:
        a, dt = example
        return _differs(subject, fns[dt], to_tensor(a, dt, ctx.device))

    found = search(paired(sample_strategy(subject, None), tuple(DTYPES)), first_problem, ctx.profile,
                   (probe_input(subject), DTYPES[0]))
    details: dict[str, Any] = {"dtypes": [dtype_name(dt) for dt in DTYPES], "repeats": tol.DETERMINISM_REPEATS}
    if found is not None:
        (example, _), (reason, more) = found
        return failed(reason, details={**details, **more}, smallest_input=example)
    large = _large_input(subject, ctx.device).to(LARGE_DTYPE)
    details["large_input_shape"] = list(large.shape)
    problem = _differs(subject, fns[LARGE_DTYPE], large)
    if problem is not None:
        return failed(f"{problem[0]} (large input {tuple(large.shape)})", details={**details, **problem[1]})
    return passed(f"{tol.DETERMINISM_REPEATS} runs bitwise equal, forward and backward (float64, float32)",
                  details=details)


def _run(subject: Subject, fn: Fn, x: Tensor) -> list[tuple[str, Tensor | None]]:
    leaf, inp = tracked_copy(x)
    named = subject.parameters(fn)
    y, grads = value_and_grads(fn, inp, [p for _, p in named], wrt=leaf)
    names = ["output", "input gradient", *(f"gradient of {n}" for n, _ in named)]
    return list(zip(names, [y.detach(), *grads], strict=True))


def _differs(subject: Subject, fn: Fn, x: Tensor) -> Problem | None:
    first = _run(subject, fn, x)
    for run in range(1, tol.DETERMINISM_REPEATS):
        for (what, a), (_, b) in zip(first, _run(subject, fn, x), strict=True):
            if a is None and b is None:
                continue
            if a is None or b is None or not same_bits(a, b):
                d, where = worst(ulps_apart(a, b)) if a is not None and b is not None else (float("inf"), ())
                return (
                    f"{dtype_name(x.dtype)}: run {run + 1} gave a different {what} from run 1 "
                    f"({d:.3g} ulps apart at {where})",
                    {"dtype": dtype_name(x.dtype), "what": what, "run": run + 1, "ulps": d, "at": list(where)},
                )
    return None


def _large_input(subject: Subject, device: str) -> Tensor:
    """About DETERMINISM_LARGE_NUMEL values spread over the domain, from a fixed seed."""
    base = subject.shape(1, 1)
    per_length = max(1, int(torch.Size(base).numel()))
    length = max(1, tol.DETERMINISM_LARGE_NUMEL // (16 * per_length))
    shape = subject.shape(16, length)
    lo, hi = domain_range(subject.domain())
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo
    return x.to(device)
