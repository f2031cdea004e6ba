"""The registry: lookup, iteration, duplicates and third-party entry points."""

from __future__ import annotations

import math
from importlib.metadata import EntryPoint
from typing import Any

import pytest
import torch

import acts
from acts import registry
from acts.spec import Activation, Kind, Properties


def _spec(name: str) -> Activation:
    def double(x: torch.Tensor) -> torch.Tensor:
        return 2 * x

    return Activation(
        name=name, kind=Kind.FORMULA, formula="2x", source="test", module=torch.nn.Identity,
        functional=double, reference=double, properties=Properties(limits=(-math.inf, math.inf)),
    )


def test_lookup_by_name_and_alias() -> None:
    assert acts.get("silu").name == "silu"
    assert acts.get("swish") is acts.get("silu")
    with pytest.raises(KeyError):
        acts.get("no_such_activation")


def test_names_are_sorted_and_unique() -> None:
    names = acts.names()
    assert names == sorted(set(names))
    assert [s.name for s in acts.all_activations()] == names


def test_duplicate_name_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        acts.register(_spec("silu"))


def test_entry_point_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    """A third-party package advertises specs under acts.activations: a spec, a list
    or a factory. A broken one is reported, never fatal. (Nothing is installed: the
    entry points are faked.)"""
    fake = {
        "one": _spec("plugin_one"),
        "many": [_spec("plugin_two"), _spec("plugin_three")],
        "factory": lambda: _spec("plugin_four"),
    }

    class FakeEntryPoint(EntryPoint):
        def load(self) -> Any:
            if self.name == "broken":
                raise ImportError("no module named plugin_broken")
            return fake[self.name]

    eps = [FakeEntryPoint(n, f"pkg:{n}", registry.ENTRY_POINT_GROUP) for n in [*fake, "broken"]]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps if group == registry.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "load_errors", [])
    try:
        registry.load_entry_points()
        for n in ("plugin_one", "plugin_two", "plugin_three", "plugin_four"):
            assert acts.get(n).name == n
        assert registry.load_errors and registry.load_errors[0][0] == "broken"
    finally:
        for n in ("plugin_one", "plugin_two", "plugin_three", "plugin_four"):
            if n in registry._REGISTRY:
                registry.unregister(n)


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="snake_case"):
        _spec("Not A Name")
