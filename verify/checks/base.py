"""What every check shares: its context, its outcomes, and the registry of checks."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from verify.results import Status
from verify.subject import Subject


@dataclass(frozen=True)
class Context:
    """How a run was asked for: device, dtypes, hypothesis profile."""

    device: str = "cpu"
    dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.bfloat16, torch.float16)
    profile: str = "ci"
    # Options a user passes to one check (thresholds), by check id.
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; the runner adds the id, timing and repro."""

    status: Status
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    findings: tuple[str, ...] = ()
    smallest_input: Any = None


def passed(summary: str, details: dict[str, Any] | None = None, findings: list[str] | tuple[str, ...] = ()) -> Outcome:
    return Outcome(Status.PASS, summary, details or {}, tuple(findings))


def failed(summary: str, details: dict[str, Any] | None = None, smallest_input: Any = None,
           findings: list[str] | tuple[str, ...] = ()) -> Outcome:
    return Outcome(Status.FAIL, summary, details or {}, tuple(findings), smallest_input)


def skipped(reason: str, details: dict[str, Any] | None = None) -> Outcome:
    return Outcome(Status.SKIP, reason, details or {})


CheckFn = Callable[[Subject, Context], Outcome]

# What a check that declares no cost is taken to cost (see Check.cost_s).
DEFAULT_COST_S = 0.03


@dataclass(frozen=True)
class Check:
    id: str
    fn: CheckFn
    doc: str
    # Its typical seconds on a plain activation in a fresh worker (2-core machine,
    # benchmarks/verdict_speed.py): how the runner shares one subject's checks out among
    # idle workers so that they finish together. A guide, never a limit.
    cost_s: float = DEFAULT_COST_S


CHECKS: dict[str, Check] = {}


def check(check_id: str, cost_s: float = DEFAULT_COST_S) -> Callable[[CheckFn], CheckFn]:
    """Register a check function under its stable id (``cost_s``: see :class:`Check`)."""

    def register(fn: CheckFn) -> CheckFn:
        if check_id in CHECKS:
            raise ValueError(f"check id {check_id!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        CHECKS[check_id] = Check(check_id, fn, doc, cost_s)
        return fn

    return register


def short(x: Any, n: int = 8) -> list[float] | float:
    """A few values of a tensor for a message or a reproducer."""
    t = torch.as_tensor(x).detach().double().flatten()
    vals = [float(v) for v in t[:n]]
    return vals[0] if t.numel() == 1 else vals


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one CPU thread (for the depth experiment here, the scans of `saturation`):
    their tensors are small (64k elements), so OpenMP's fork and barrier cost more than
    they save, and under oversubscription (pytest-xdist workers, a busy machine) 20 to 60
    times more (measured on a loaded 2-core machine: the depth experiment took 0.13 s of
    CPU on one thread, 4 to 9 s on two)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
