"""Shared helpers for the harness's own tests."""

from __future__ import annotations

from typing import Any

import pytest

from verify.checks import CHECKS, Context
from verify.results import CheckResult
from verify.runner import run_check
from verify.targets import from_object


def judge(check_id: str, obj: Any, name: str | None = None, **ctx: Any) -> CheckResult:
    """Run one check on any activation object (spec, module, Function, callable) the
    way the gate does, exceptions and all."""
    subject = from_object(obj, name=name or getattr(obj, "__name__", type(obj).__name__), target=f"test:{name or 'obj'}")
    return run_check(subject, CHECKS[check_id], Context(**{"profile": "quick", **ctx}))


@pytest.fixture
def run() -> Any:
    return judge
