"""The whole default battery on one activation object, as a test sees it."""

from __future__ import annotations

from typing import Any

from verify.checks import Context
from verify.results import CheckResult, Status
from verify.runner import run_subject, select_checks
from verify.targets import from_object


def battery(obj: Any, name: str, target: str) -> dict[str, CheckResult]:
    """Every default check but `throughput`, under the quick profile, by id."""
    subject = from_object(obj, name=name, target=target)
    result = run_subject(subject, select_checks(skip=("throughput",), profile="quick"), Context(profile="quick"))
    return {r.id: r for r in result.checks}


def assert_fails_exactly(results: dict[str, CheckResult], expected: set[str]) -> None:
    """No check errors, and exactly ``expected`` fail (the others pass or skip)."""
    errors = {cid: r.summary for cid, r in results.items() if r.status is Status.ERROR}
    assert not errors, errors
    failing = {cid for cid, r in results.items() if r.status is Status.FAIL}
    assert failing == expected, {cid: results[cid].summary for cid in failing}
