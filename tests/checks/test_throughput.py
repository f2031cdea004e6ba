"""`throughput`: a spec that promises a speed budget and misses it fails; one that keeps it
passes; without a budget (or without a built-in) it is a skip. The verdicts are proven on
a clock the test controls (a real timing depends on the machine's load, which a test may
not assert on); one real timing shows the measurement itself runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import torch.nn.functional as F
from torch import Tensor, nn

import acts
from acts import ThroughputBudget
from verify.checks import CHECKS, Context
from verify.results import Status
from verify.runner import run_check
from verify.subject import from_spec

SIZE = 1 << 12


class TenfoldSiLU(nn.Module):
    """Planted bug: computes SiLU correctly, ten times over."""

    def forward(self, x: Tensor) -> Tensor:
        y = F.silu(x)
        for _ in range(9):
            y = F.silu(x) + (y - F.silu(x))
        return y


class BuiltinSiLU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


def builtin_silu(x: Tensor) -> Tensor:
    return F.silu(x)  # looked up at each call, so the test's clock counts it


def _spec(module: type[nn.Module], budget: ThroughputBudget | None, builtin: object = builtin_silu) -> acts.Activation:
    return dataclasses.replace(acts.get("silu"), name=f"test_{module.__name__.lower()}", aliases=(),
                               module=module, builtin=builtin, throughput=budget)


def _judge(spec: acts.Activation) -> tuple[Status, str, dict]:
    r = run_check(from_spec(spec), CHECKS["throughput"], Context(profile="quick"))
    return r.status, r.summary, r.details


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Time each step by how many SiLUs it computes: the built-in's one, the planted ten."""
    calls = {"n": 0}
    real_silu = F.silu

    def counting_silu(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        calls["n"] += 1
        return real_silu(x, *args, **kwargs)

    def measure(step: Callable[[], Any], device: str, min_run_time: float) -> dict[str, float]:
        calls["n"] = 0
        step()
        return {"median_s": 1e-3 * calls["n"], "iqr_s": 0.0, "runs": 1}

    monkeypatch.setattr(F, "silu", counting_silu)
    monkeypatch.setattr("verify.analysis.bench.measure", measure)


def test_a_missed_budget_fails(clock: None) -> None:
    status, summary, details = _judge(_spec(TenfoldSiLU, ThroughputBudget(max_ratio=1.25, numel=SIZE)))
    assert status is Status.FAIL, summary
    assert details["ratio"] > 3 and "promises at most 1.25x" in summary


def test_a_kept_budget_passes(clock: None) -> None:
    status, summary, details = _judge(_spec(BuiltinSiLU, ThroughputBudget(max_ratio=1.25, numel=SIZE)))
    assert status is Status.PASS, summary
    assert details["numel"] == SIZE and details["ratio"] == pytest.approx(1.0)


def test_no_budget_or_no_builtin_is_a_skip() -> None:
    assert _judge(_spec(BuiltinSiLU, None))[0] is Status.SKIP
    status, summary, _ = _judge(_spec(BuiltinSiLU, ThroughputBudget(numel=SIZE), builtin=None))
    assert status is Status.SKIP and "built-in" in summary


def test_a_real_timing_runs_and_reports_both_sides() -> None:
    _, _, details = _judge(_spec(BuiltinSiLU, ThroughputBudget(max_ratio=1e6, numel=SIZE)))
    assert details["eager_median_s"] > 0 and details["builtin_median_s"] > 0 and details["ratio"] > 0
