"""The torch internals named in verify.internals are where verify expects them: on a
torch where one moved, this fails with the name of what moved, before any check
misreports."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

INTERNALS = [
    ("torch.utils._python_dispatch", "TorchDispatchMode"),
    ("torch.utils._pytree", "tree_leaves"),
    ("torch._dynamo.exc", "Unsupported"),
]
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("module", "name"), INTERNALS)
def test_each_internal_is_where_verify_expects_it(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name), f"torch moved {module}.{name}; update verify/internals.py"


def test_the_dispatch_mode_still_sees_each_op() -> None:
    import torch

    from verify.internals import TorchDispatchMode, tree_leaves

    seen: list[str] = []

    class Spy(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = func(*args, **(kwargs or {}))
            seen.extend(str(func) for t in tree_leaves(out) if isinstance(t, torch.Tensor))
            return out

    with Spy():
        torch.ones(3).exp()
    assert any("exp" in s for s in seen), seen


def test_no_other_private_torch_api_in_acts_or_verify() -> None:
    """Only verify/internals.py may reach into torch's private modules."""
    pattern = re.compile(r"torch\.(?:_[A-Za-z]\w*|utils\._\w+)")
    offenders = []
    for package in ("acts", "verify"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "internals.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line.replace("torch.__version__", "")):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
