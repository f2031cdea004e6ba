"""The resolution a subject computes float64 inputs at.

Transformer code up- and downcasts on purpose (``y = x.float(); ...; return
y.to(x.dtype)``): handed float64, such a subject computes at float32's resolution. A
central difference with float64's step then measures rounding, not the derivative, and
a kink scan at float64's rounding threshold sees every float32 rounding as a jump. The
gradient checks and the kink scan judge such a subject at the resolution it has
(``GRADCHECK_*_AT`` and ``EPS`` in :mod:`verify.tolerances`).

A subject computes at a dtype's resolution when, on full-mantissa float64 inputs (which
no narrower dtype holds exactly), every finite output is exactly representable in that
dtype, the outputs do not move when the inputs move by a few float64 ulps (far below
that dtype's ulp), and they do move when the inputs move by a few of that dtype's ulps
(a constant is representable in every dtype and says nothing).
"""

from __future__ import annotations

import torch

from verify import tolerances as tol
from verify.strategies import _inside, domain_range
from verify.subject import Subject

# Narrowest precision first: the first dtype the outputs fit is the resolution.
CANDIDATES = (torch.bfloat16, torch.float16, torch.float32)


def resolution(subject: Subject, params: dict[str, float] | None = None, device: str = "cpu") -> torch.dtype:
    """The dtype whose resolution the subject's float64 outputs have (float64 when they
    have float64's, or when the subject cannot be probed), remembered per subject and
    parameter setting."""
    key = ("resolution", device, *sorted((params or {}).items()))
    if key not in subject.memo:
        try:
            subject.memo[key] = _probe(subject, params, device)
        except Exception:  # a subject that cannot be called here is judged in float64 by the checks
            subject.memo[key] = torch.float64
    return subject.memo[key]


def _probe(subject: Subject, params: dict[str, float] | None, device: str) -> torch.dtype:
    lo, hi = domain_range(_inside(*subject.domain(params)))
    shape = subject.shape(tol.PRECISION_PROBE_BATCH, tol.PRECISION_PROBE_LENGTH)
    gen = torch.Generator().manual_seed(0)
    x = (lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float64)).to(device)
    fn = subject.instance(torch.float64, device, params)
    ulp64 = torch.finfo(torch.float64).eps * x.abs()

    def call(t: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return fn(t.clone()).double().flatten()

    y, nudged = call(x), call(x + tol.PRECISION_NUDGE_ULPS * ulp64)
    finite = torch.isfinite(y) & torch.isfinite(nudged)
    y, nudged = y[finite], nudged[finite]
    if y.numel() == 0 or not torch.equal(y, nudged):
        return torch.float64
    for dtype in CANDIDATES:
        if not torch.equal(y, y.to(dtype).double()):
            continue
        step = tol.PRECISION_MOVE_ULPS * tol.EPS[dtype] * x.abs()
        moved = call(x + step)[finite]
        if (moved != y).double().mean() >= tol.PRECISION_MOVING_FRACTION:
            return dtype
        return torch.float64
    return torch.float64


def finding(dtype: torch.dtype) -> str | None:
    """The line that reports a subject computing float64 inputs at ``dtype``'s
    resolution (None for float64)."""
    if dtype == torch.float64:
        return None
    name = str(dtype).removeprefix("torch.")
    return (f"float64 inputs are computed in {name}: judged at {name}'s resolution (finite-difference steps and "
            f"tolerances, and the kink scan's rounding threshold); a float64 model gets only {name}'s precision "
            "from it")
