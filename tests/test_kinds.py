"""The whole default battery on activations beyond one output per element
(`tests/fixtures/modern.py`): gated halves, feature-last parameters, vector-valued and
domain-limited functions. Each planted bug fails exactly the check that owns it, each
correct one passes, and nothing ends in `error`."""

from __future__ import annotations

from typing import Any

import pytest
import torch.nn.functional as F
from _battery import assert_fails_exactly
from _battery import battery as run_battery
from torch import nn

from tests.fixtures import modern
from verify.results import Status

# name in tests/fixtures/modern.py -> the checks that must fail (the others pass or skip).
EXPECTED: dict[str, set[str]] = {
    "swiglu": set(),
    "reglu": set(),
    "GEGLU": set(),
    "GLUWithBias": set(),
    "FusedSwiGLU": set(),
    "SwappedSwiGLU": {"gradcheck"},
    "WrongGateSwiGLU": {"gradcheck"},
    "gated_overflow": {"stability"},
    "gate_swallows_nan": {"special_values"},
    "DyT": set(),
    "WrongAxisDyT": {"param_grads"},
    "softmax_fn": set(),
    "softmax_missing_term": {"gradcheck", "gradgradcheck"},
    "sparsemax": set(),
    "maxout": set(),
    "norm_softmax": set(),
    "softmax_nan_spreads": {"special_values", "stability", "preserves"},  # x.max() of an empty input raises
    "clipped_sqrt": set(),
}


def battery(name: str) -> dict[str, Any]:
    return run_battery(getattr(modern, name), name, f"tests/fixtures/modern.py:{name}")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fails_exactly_the_owning_checks(name: str) -> None:
    assert_fails_exactly(battery(name), EXPECTED[name])


def test_swapped_halves_name_the_entry() -> None:
    summary = battery("SwappedSwiGLU")["gradcheck"].summary
    assert "/ d b[" in summary or "/ d a[" in summary, summary


def test_gated_halves_are_judged_one_at_a_time() -> None:
    results = battery("reglu")
    kinks = results["kinks"].summary
    assert "a (with b = 1): kinks at 0" in kinks, kinks
    assert results["saturation"].status is Status.PASS


def test_the_float16_overflow_of_a_product_of_halves_names_the_input() -> None:
    summary = battery("gated_overflow")["stability"].summary
    assert "float16" in summary and "nan" in summary, summary


def test_a_clipped_backward_at_the_domain_edge_is_a_finding() -> None:
    findings = battery("clipped_sqrt")["gradcheck"].findings
    assert any("domain is [0, inf)" in f for f in findings), findings
    assert any("edge 0 the backward differs" in f and "autograd 1000" in f for f in findings), findings


def test_the_ab_grid_names_a_swallowed_nan() -> None:
    summary = battery("gate_swallows_nan")["special_values"].summary
    assert "b=nan" in summary and "came out as a number" in summary, summary


def test_a_product_overflow_of_the_halves_names_both() -> None:
    summary = battery("gated_overflow")["stability"].summary
    assert "(with a = -300)" in summary or "(with b = -300)" in summary, summary


@pytest.mark.parametrize("obj", [nn.GLU(), nn.Softmax(dim=-1), nn.Softmax(dim=1), nn.LogSoftmax(dim=-1),
                                 nn.Softmin(dim=1), nn.Softmax2d(), F.glu, F.log_softmax],
                         ids=["GLU", "Softmax-1", "Softmax1", "LogSoftmax", "Softmin", "Softmax2d", "glu",
                              "log_softmax"])
def test_torch_gated_and_vector_valued_builtins_pass(obj: Any) -> None:
    name = getattr(obj, "__name__", type(obj).__name__)
    assert_fails_exactly(run_battery(obj, name, f"torch:{name}"), set())
