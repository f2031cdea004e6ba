"""`compile`: graph breaks fail under fullgraph=True; a plain activation compiles and
matches eager. Compiling takes seconds, hence the ``slow`` mark."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

import acts
from verify.results import Status

pytestmark = pytest.mark.slow


def prints(x: Tensor) -> Tensor:
    """Planted bug: a print in the forward (a side effect Dynamo cannot trace)."""
    print("activation called")
    return torch.relu(x)


def branches_on_data(x: Tensor) -> Tensor:
    """Planted bug: a Python branch on a tensor's value."""
    if x.sum() > 0:
        return torch.relu(x)
    return torch.tanh(x)


def test_print_is_a_graph_break(run: Any) -> None:
    r = run("compile", prints)
    assert r.status is Status.FAIL, r.summary
    assert "graph break" in r.summary and "print" in r.summary


def test_data_dependent_branch_is_a_graph_break(run: Any) -> None:
    r = run("compile", branches_on_data)
    assert r.status is Status.FAIL, r.summary
    assert "graph break" in r.summary


def test_silu_compiles_and_matches(run: Any) -> None:
    for obj in (nn.SiLU(), acts.get("silu")):
        r = run("compile", obj)
        assert r.status is Status.PASS, (obj, r.summary)
        assert r.details["backend"] in ("inductor", "aot_eager")


def test_per_channel_parameters_compile(run: Any) -> None:
    r = run("compile", nn.PReLU(num_parameters=4))
    assert r.status is Status.PASS, r.summary
