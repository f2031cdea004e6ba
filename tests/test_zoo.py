"""The whole default battery on activations written the way people write them
(`tests/zoo.py`): each planted bug fails exactly the check that owns it, each correct
pattern passes, and nothing errors (an error means the harness could not judge)."""

from __future__ import annotations

import pytest
import zoo

from verify.checks import Context
from verify.results import Status
from verify.runner import run_subject, select_checks
from verify.targets import from_object

# name in tests/zoo.py -> the checks that must fail (every other check passes or skips).
EXPECTED: dict[str, set[str]] = {
    "LeakyReLUInplaceFunction": set(),
    "NegativeSlopeInplaceFunction": {"gradcheck"},
    "ClampWithoutMarkDirty": {"no_mutation"},
    "GaussianActivation": set(),
    "SwishIgnoresInplace": {"inplace", "memory"},
    "ZeroActivation": {"saturation"},
    "RationalSoftsign": set(),
    "acon_c": set(),
    "acon_c_flat_view": {"preserves"},
    "Snake": set(),
    "PeriodicTan": {"stability"},
    "PenalizedTanhFunction": {"gradcheck"},
    "MixedPrecisionMish": {"reference"},
    "SwishBeta": {"gradcheck"},
    "PowerAbs": {"kinks"},
    "CReLU": set(),
    "CReLUFunction": {"gradcheck"},
    "SwishExpRatio": {"stability"},
}


def battery(name: str) -> dict[str, object]:
    subject = from_object(getattr(zoo, name), name=name, target=f"tests/zoo.py:{name}")
    result = run_subject(subject, select_checks(skip=("throughput",), profile="quick"), Context(profile="quick"))
    return {r.id: r for r in result.checks}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_zoo_activation_fails_exactly_the_owning_checks(name: str) -> None:
    results = battery(name)
    errors = {cid: r.summary for cid, r in results.items() if r.status is Status.ERROR}  # type: ignore[attr-defined]
    assert not errors, errors
    failing = {cid for cid, r in results.items() if r.status is Status.FAIL}  # type: ignore[attr-defined]
    assert failing == EXPECTED[name], {cid: results[cid].summary for cid in failing}  # type: ignore[attr-defined]


def test_shape_changing_activation_is_judged_where_it_applies() -> None:
    results = battery("CReLU")
    judged = {"gradcheck", "gradgradcheck", "forward_ad", "no_mutation", "determinism", "special_values", "stability"}
    assert {cid for cid, r in results.items() if r.status is Status.PASS} == judged  # type: ignore[attr-defined]
    for cid in ("preserves", "elementwise", "kinks", "saturation", "propagation", "memory", "reference"):
        summary = results[cid].summary  # type: ignore[attr-defined]
        assert "(2, 8, 3) for (2, 4, 3)" in summary, (cid, summary)
