"""The whole default battery on activations beyond one output per element
(`tests/fixtures/modern.py`): gated halves, feature-last parameters, vector-valued and
domain-limited functions. Each planted bug fails exactly the check that owns it, each
correct one passes, and nothing ends in `error`."""

from __future__ import annotations

import pytest

from tests.fixtures import modern
from verify.checks import Context
from verify.results import Status
from verify.runner import run_subject, select_checks
from verify.targets import from_object

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
    "DyT": set(),
    "WrongAxisDyT": {"param_grads"},
    "softmax_fn": set(),
    "softmax_missing_term": {"gradcheck", "gradgradcheck"},
    "sparsemax": set(),
    "maxout": set(),
    "norm_softmax": set(),
    "softmax_nan_spreads": {"special_values", "stability"},
    "clipped_sqrt": set(),
}


def battery(name: str) -> dict[str, object]:
    subject = from_object(getattr(modern, name), name=name, target=f"tests/fixtures/modern.py:{name}")
    result = run_subject(subject, select_checks(skip=("throughput",), profile="quick"), Context(profile="quick"))
    return {r.id: r for r in result.checks}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fails_exactly_the_owning_checks(name: str) -> None:
    results = battery(name)
    errors = {cid: r.summary for cid, r in results.items() if r.status is Status.ERROR}  # type: ignore[attr-defined]
    assert not errors, errors
    failing = {cid for cid, r in results.items() if r.status is Status.FAIL}  # type: ignore[attr-defined]
    assert failing == EXPECTED[name], {cid: results[cid].summary for cid in failing}  # type: ignore[attr-defined]


def test_swapped_halves_name_the_entry() -> None:
    summary = battery("SwappedSwiGLU")["gradcheck"].summary  # type: ignore[attr-defined]
    assert "/ d b[" in summary or "/ d a[" in summary, summary


def test_gated_halves_are_judged_one_at_a_time() -> None:
    results = battery("reglu")
    kinks = results["kinks"].summary  # type: ignore[attr-defined]
    assert "a (with b = 1): kinks at 0" in kinks, kinks
    assert results["saturation"].status is Status.PASS  # type: ignore[attr-defined]


def test_the_float16_overflow_of_a_product_of_halves_names_the_input() -> None:
    summary = battery("gated_overflow")["stability"].summary  # type: ignore[attr-defined]
    assert "float16" in summary and "nan" in summary, summary


def test_a_clipped_backward_at_the_domain_edge_is_a_finding() -> None:
    findings = battery("clipped_sqrt")["gradcheck"].findings  # type: ignore[attr-defined]
    assert any("domain is [0, inf)" in f for f in findings), findings
    assert any("edge 0 the backward differs" in f and "autograd 1000" in f for f in findings), findings
