"""The checks, one module per stable check id (docs/design.md, "Check ids").

Importing this package imports every check module, each of which registers its
function with :func:`verify.checks.base.check`.
"""

from __future__ import annotations

import importlib
import pkgutil

from verify.checks.base import CHECKS, Check, Context, Outcome, failed, passed, skipped

# The public order: correctness first, then behaviour at the edges, then cost.
ORDER = (
    "gradcheck",
    "gradgradcheck",
    "forward_ad",
    "param_grads",
    "opcheck",
    "reference",
    "matches",
    "preserves",
    "elementwise",
    "no_mutation",
    "determinism",
    "special_values",
    "stability",
    "inplace",
    "compile",
    "kinks",
    "saturation",
    "propagation",
    "memory",
    "throughput",
)

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")


def ordered() -> list[Check]:
    """Every registered check, in the public order (unknown ids last, by name)."""
    rank = {cid: i for i, cid in enumerate(ORDER)}
    return sorted(CHECKS.values(), key=lambda c: (rank.get(c.id, len(rank)), c.id))


__all__ = ["CHECKS", "ORDER", "Check", "Context", "Outcome", "failed", "ordered", "passed", "skipped"]
