"""`compile`: ``torch.compile(fn, fullgraph=True)`` runs and matches eager, forward and
backward, in float32.

Dynamo's caches are reset first, so the subject is traced afresh. The backend is
inductor; where inductor cannot compile at all on this machine (no C++ compiler, no
Triton), found by compiling a trivial function once, the check falls back to
``aot_eager`` (still Dynamo tracing and AOTAutograd) and says so in the details. Any
failure to compile the subject (a graph break, which ``fullgraph=True`` turns into an
error; a backend failure, in the forward or in the lazily compiled backward) fails the
check with the reason. Then, on drawn inputs, the compiled output, input gradient and
parameter gradients must match eager within ``COMPILE_RTOL`` / ``COMPILE_ATOL``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from verify import tolerances as tol
from verify.checks._grad import sample_strategy
from verify.checks._layout import (
    Fn,
    Problem,
    first_line,
    probe_input,
    search,
    tracked_copy,
    value_and_grads,
    worst,
)
from verify.checks.base import Context, Outcome, check, failed, passed
from verify.internals import is_graph_break
from verify.strategies import to_tensor
from verify.subject import Subject

DTYPE = torch.float32
BACKEND = "inductor"
FALLBACK = "aot_eager"
# What a failing torch.compile raises: Dynamo's and the backends' exceptions are
# RuntimeErrors (a graph break, see verify.internals.is_graph_break, or a backend's failure).
COMPILE_ERRORS = (RuntimeError, NotImplementedError, AssertionError)


# Graph breaks that are torch's limits, not the subject's defects: Dynamo in torch 2.13
# refuses every autograd.Function that defines jvp (forward-mode AD support).
TORCH_LIMITS = ("Unsupported custom jvp",)


@check("compile")
def check_compile(subject: Subject, ctx: Context) -> Outcome:
    """torch.compile(fullgraph=True) runs and matches eager, forward and backward (float32)."""
    backend, why_not = backend_for(ctx.device)
    details: dict[str, Any] = {"backend": backend, "dtype": "float32", "fullgraph": True,
                               "rtol": tol.COMPILE_RTOL, "atol": tol.COMPILE_ATOL}
    if why_not:
        details["note"] = f"inductor cannot compile on this machine ({why_not}); used {FALLBACK}"
    torch.compiler.reset()
    fn = subject.instance(DTYPE, ctx.device)
    compiled = torch.compile(fn, fullgraph=True, backend=backend)
    params = [p for _, p in subject.parameters(fn)]
    names = ["output", "input gradient", *(f"gradient of {n}" for n, _ in subject.parameters(fn))]

    first = probe_input(subject)
    x = to_tensor(first, DTYPE, ctx.device)
    _grads(fn, params, x)  # the subject's own errors surface here, as errors
    start = time.perf_counter()
    findings: list[str] = []
    try:
        _grads(compiled, params, x)
    except COMPILE_ERRORS as exc:
        if not any(limit in str(exc) for limit in TORCH_LIMITS):
            kind = "graph break" if is_graph_break(exc) else "compilation failed"
            return failed(f"torch.compile(fullgraph=True, backend={backend!r}): {kind}: {_reason(exc)}",
                          details={**details, "error": str(exc)[:2000]}, smallest_input=first)
        # Not the subject's defect: torch itself refuses it. Say so, and still hold
        # the compiled function (with its graph break) to eager's numbers.
        findings.append(f"fullgraph=True refused by torch {torch.__version__}: {_reason(exc)}; "
                        "checked with a graph break instead")
        details["fullgraph"] = False
        torch.compiler.reset()
        compiled = torch.compile(fn, backend=backend)
        _grads(compiled, params, x)
    details["first_call_s"] = round(time.perf_counter() - start, 3)
    worst_seen = {"max_abs_diff": 0.0}

    def first_problem(a: Any) -> Problem | None:
        x = to_tensor(a, DTYPE, ctx.device)
        eager, comp = _grads(fn, params, x), _grads(compiled, params, x)
        for what, e, c in zip(names, eager, comp, strict=True):
            if e is None and c is None:
                continue
            if e is None or c is None:
                return f"the {what} is {'missing' if c is None else 'present'} compiled but not eager", {"what": what}
            diff = (c.double() - e.double()).abs()
            diff = torch.where(torch.isnan(c) & torch.isnan(e), 0.0, torch.nan_to_num(diff, nan=float("inf")))
            worst_seen["max_abs_diff"] = max(worst_seen["max_abs_diff"], float(diff.max()) if diff.numel() else 0.0)
            bad = ~torch.isclose(c, e, rtol=tol.COMPILE_RTOL, atol=tol.COMPILE_ATOL, equal_nan=True)
            if bad.any():
                _, where = worst(bad.double() * diff)
                return (
                    f"compiled {what} differs from eager at {where}: {float(c[where]):.8g} vs {float(e[where]):.8g}",
                    {"what": what, "at": list(where), "compiled": float(c[where]), "eager": float(e[where])},
                )
        return None

    found = search(sample_strategy(subject, None), first_problem, ctx.profile, first)
    if found is not None:
        example, (reason, more) = found
        return failed(reason, details={**details, **more}, smallest_input=example)
    details.update(worst_seen)
    how = "with fullgraph=True" if details["fullgraph"] else "with a graph break torch requires"
    return passed(f"compiles {how} ({backend}) and matches eager, forward and backward", details=details,
                  findings=findings)


def _reason(exc: BaseException) -> str:
    """Dynamo's first line, its explanation and the last line of user code it names."""
    lines = [ln.strip() for ln in str(exc).splitlines()]
    reason = first_line(exc)
    explain = next((ln for ln in lines if ln.startswith("Explanation:")), None)
    if explain:
        reason += f" ({explain.removeprefix('Explanation:').strip()})"
    frames = [ln for ln in lines if ln.startswith("File ")]
    if frames:
        reason += f" at {frames[-1].removeprefix('File ')}"
    return reason


def _grads(fn: Fn, params: Sequence[Tensor], x: Tensor) -> list[Tensor | None]:
    """Output, input gradient and parameter gradients on a copy of ``x``."""
    leaf, inp = tracked_copy(x)
    y, grads = value_and_grads(fn, inp, params, wrt=leaf)
    return [y.detach(), *grads]


@functools.cache
def backend_for(device: str) -> tuple[str, str | None]:
    """inductor, or the fallback with the reason inductor cannot compile a trivial
    function (forward and backward) on ``device``."""
    def probe(x: Tensor) -> Tensor:
        return torch.sin(x) * 2

    torch.compiler.reset()
    try:
        x = torch.ones(4, device=device, requires_grad=True)
        torch.compile(probe, fullgraph=True, backend=BACKEND)(x).sum().backward()
    except (*COMPILE_ERRORS, OSError, ImportError) as exc:
        return FALLBACK, first_line(exc)
    return BACKEND, None
