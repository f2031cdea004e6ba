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


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """CUDA tests skip with a reason without a GPU, except under tox -e cuda
    (VERIFY_REQUIRE_CUDA=1), where a missing GPU must fail loudly, not pass."""
    import os

    import torch

    if torch.cuda.is_available():
        return
    required = os.environ.get("VERIFY_REQUIRE_CUDA") == "1"
    for item in items:
        if "cuda" in item.keywords:
            if required:
                item.add_marker(pytest.mark.xfail(reason="no CUDA device is visible", strict=True, run=False))
            else:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device (run tox -e cuda on a GPU machine)"))
