"""Hypothesis profiles, registered once by name and loaded by ``--profile``.

``ci`` is derandomised, so a CI run is reproducible; ``quick`` is for a first look;
``thorough`` draws many more examples and adds the slow checks (``compile``).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, settings

PROFILES = ("quick", "ci", "thorough")
DEFAULT_PROFILE = "ci"

_common: dict[str, Any] = {
    "deadline": None,  # a first call may compile or warm caches
    "database": None,  # never write .hypothesis/ into a user's folder
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    "print_blob": False,
    # Not the explain phase: it runs the shrunk failure again and again (a second for a
    # gradgradcheck) to annotate hypothesis's report, and the checks write their own.
    "phases": (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
}
settings.register_profile("verify-quick", max_examples=6, derandomize=True, **_common)
settings.register_profile("verify-ci", max_examples=20, derandomize=True, **_common)
settings.register_profile("verify-thorough", max_examples=150, derandomize=False, **_common)


def hypothesis_settings(profile: str) -> settings:
    return settings.get_profile(f"verify-{profile}")


# Checks that run by default only under some profiles; the rest run under every profile.
# ``compile`` is slow. ``throughput`` times against the built-in, so its verdict depends on
# the machine's load, not only on the code: no profile runs it by default, ``--only
# throughput`` does.
ONLY_IN: dict[str, set[str]] = {"compile": {"thorough"}, "throughput": set()}
