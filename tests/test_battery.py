"""The whole battery over every registered activation: adding an activation to `acts`
gates it automatically."""

from __future__ import annotations

import acts
from verify.plugin import CheckRunner, parametrize_with_checks
from verify.subject import Subject


# throughput is left to `python -m verify check`: a timed test would be flaky on shared
# machines (tests/checks/test_throughput.py proves the check itself).
@parametrize_with_checks(acts.names(), skip=("throughput",))
def test_registered_activation(subject: Subject, check: CheckRunner) -> None:
    check(subject)
