"""The whole battery over every registered activation: adding an activation to `acts`
gates it automatically."""

from __future__ import annotations

import acts
from verify.plugin import CheckRunner, parametrize_with_checks
from verify.subject import Subject


@parametrize_with_checks(acts.names())
def test_registered_activation(subject: Subject, check: CheckRunner) -> None:
    check(subject)
