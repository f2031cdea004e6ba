"""`throughput`: a spec that promises a speed budget and misses it by far fails; one that
keeps it passes; without a budget (or without a built-in) it is a skip. The margins are
wide on purpose (a tenfold miss, a budget of twice an identical function): the check is
proven here, the figures themselves come from the benchmarks."""

from __future__ import annotations

import dataclasses

import torch.nn.functional as F
from torch import Tensor, nn

import acts
from acts import ThroughputBudget
from verify.checks import CHECKS, Context
from verify.results import Status
from verify.runner import run_check
from verify.subject import from_spec

SIZE = 1 << 18


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


def _spec(module: type[nn.Module], budget: ThroughputBudget | None, builtin: object = F.silu) -> acts.Activation:
    return dataclasses.replace(acts.get("silu"), name=f"test_{module.__name__.lower()}", aliases=(),
                               module=module, builtin=builtin, throughput=budget)


def _judge(spec: acts.Activation) -> tuple[Status, str, dict]:
    r = run_check(from_spec(spec), CHECKS["throughput"], Context(profile="quick"))
    return r.status, r.summary, r.details


def test_a_missed_budget_fails() -> None:
    status, summary, details = _judge(_spec(TenfoldSiLU, ThroughputBudget(max_ratio=1.25, numel=SIZE)))
    assert status is Status.FAIL, summary
    assert details["ratio"] > 3 and "promises at most 1.25x" in summary


def test_a_kept_budget_passes() -> None:
    status, summary, details = _judge(_spec(BuiltinSiLU, ThroughputBudget(max_ratio=2.0, numel=SIZE)))
    assert status is Status.PASS, summary
    assert details["numel"] == SIZE and 0 < details["ratio"] <= 2.0


def test_no_budget_or_no_builtin_is_a_skip() -> None:
    assert _judge(_spec(BuiltinSiLU, None))[0] is Status.SKIP
    status, summary, _ = _judge(_spec(BuiltinSiLU, ThroughputBudget(numel=SIZE), builtin=None))
    assert status is Status.SKIP and "built-in" in summary
