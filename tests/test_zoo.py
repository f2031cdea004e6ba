"""The whole default battery on activations written the way people write them
(`tests/zoo.py`): each planted bug fails exactly the check that owns it, each correct
pattern passes, and nothing errors (an error means the harness could not judge)."""

from __future__ import annotations

from typing import Any

import pytest
import zoo
from _battery import assert_fails_exactly
from _battery import battery as run_battery

from verify.results import Status

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


def battery(name: str) -> dict[str, Any]:
    return run_battery(getattr(zoo, name), name, f"tests/zoo.py:{name}")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_zoo_activation_fails_exactly_the_owning_checks(name: str) -> None:
    assert_fails_exactly(battery(name), EXPECTED[name])


def test_shape_changing_activation_is_judged_where_it_applies() -> None:
    results = battery("CReLU")
    judged = {"gradcheck", "gradgradcheck", "forward_ad", "elementwise", "no_mutation", "determinism",
              "special_values", "stability"}
    assert {cid for cid, r in results.items() if r.status is Status.PASS} == judged
    for cid in ("preserves", "kinks", "saturation", "propagation", "memory", "reference"):
        summary = results[cid].summary
        assert "vector activation" in summary, (cid, summary)
