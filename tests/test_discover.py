"""Whole-file targets: every activation a file defines is checked or listed as skipped
with its reason; nothing it imports, nothing dropped silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from verify.discover import discover, is_whole
from verify.errors import TargetError

ZOO = str(Path(__file__).parent / "fixtures" / "mixed_zoo.py")


def test_a_file_yields_what_it_defines_in_order() -> None:
    found = discover(ZOO)
    assert [t.rpartition(":")[2] for t in found.targets] == ["Swish", "Mish", "BentIdentity", "HardSwishFn", "make_gelu"]
    skipped = dict(found.skipped)
    assert set(skipped) == {"BaseAct", "SwishBeta", "ScaledFn", "swish", "helper_constant"}
    assert "no forward" in skipped["BaseAct"]
    assert "does not build with no arguments" in skipped["SwishBeta"] and "beta" in skipped["SwishBeta"]
    assert "takes 2 arguments" in skipped["ScaledFn"]
    assert "plain function" in skipped["swish"]
    assert "GELU" not in skipped and not any("GELU" in t for t in found.targets)


def test_a_module_of_specs_checks_each_spec_once() -> None:
    found = discover("acts.elu")
    assert found.targets == ("acts.elu:SPEC",)
    assert dict(found.skipped)["ELU"] == "checked through its spec SPEC"


@pytest.mark.parametrize(("target", "whole"), [("zoo.py", True), ("pkg.acts", True), ("a/zoo", True),
                                                ("silu", False), ("zoo.py:Swish", False), ("pkg.acts:Mish", False)])
def test_whole_targets_are_told_from_the_rest(target: str, whole: bool) -> None:
    assert is_whole(target) is whole


def test_a_missing_file_is_the_users_mistake(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no such file"):
        discover(str(tmp_path / "nope.py"))
