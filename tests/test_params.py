"""Parameters: `--param NAME=VALUE` sets a spec's parameter or a module's parameter or
buffer on every instance, and a module without a spec is explored away from its
defaults, so that a backward right only at the default fails with the values named."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import zoo

from verify.cli import main
from verify.errors import TargetError
from verify.subject import explored_values
from verify.targets import from_object, resolve, with_params


def test_param_sets_a_module_parameter_broadcast_to_its_shape() -> None:
    subject = with_params(from_object(zoo.acon_c, name="acon_c", target="t"), {"beta": 0.25})
    module = subject.instance(torch.float64)
    assert module.beta.shape == (1, 6, 1, 1) and bool((module.beta == 0.25).all())
    assert subject.param_settings()[0] == {"beta": 0.25}


def test_param_sets_a_spec_parameter() -> None:
    subject = resolve("elu", params={"alpha": 0.5})
    assert subject.param_settings()[0] == {"alpha": 0.5}
    x = torch.tensor([-1.0], dtype=torch.float64)
    assert float(subject.instance(torch.float64)(x)) == pytest.approx(0.5 * (torch.exp(x) - 1).item())


@pytest.mark.parametrize("target", ["elu", "tests/zoo.py:SwishBeta"])
def test_unknown_parameter_is_the_users_mistake(target: str) -> None:
    with pytest.raises(TargetError, match="no parameter"):
        resolve(target, params={"gamma": 1.0})


def test_cli_param_option(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", "tests/zoo.py:SwishBeta", "--only", "gradcheck", "--profile", "quick", "--jobs", "1", "-q"]
    assert main([*args, "--param", "beta=1"]) == 0  # exact at beta = 1, nothing explored beyond it
    assert main([*args, "--param", "beta=2"]) == 1
    assert "(beta=2)" in capsys.readouterr().err
    assert main([*args, "--param", "beta"]) == 2


def test_explored_values_go_both_ways_from_the_default() -> None:
    values = explored_values(1.5)
    assert values[:4] == [3.0, 0.5, -1.5, 15.0]
    assert 1.5 not in values and explored_values(0.0)[:3] == [2.0, 0.5, -1.0]


def test_backward_right_only_at_the_default_fails_with_the_parameter_named(run: Any) -> None:
    r = run("gradcheck", zoo.SwishBeta, profile="ci")
    assert r.details["params"] == {"beta": 2.0}, r.summary
    assert "(beta=2)" in r.summary
    r = run("kinks", zoo.PowerAbs, profile="ci")
    assert r.details["params"] == {"gamma": 0.5}, r.summary
    assert "nan" in r.summary


class _SqrtScaled(torch.nn.Module):
    """x sqrt(beta): defined for beta >= 0 only."""

    def __init__(self) -> None:
        super().__init__()
        self.beta = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sqrt(self.beta)


def test_values_outside_a_parameters_domain_are_not_explored() -> None:
    explored = from_object(_SqrtScaled(), name="s", target="t").explored_settings()
    assert explored and all(p["beta"] >= 0 for p in explored), explored
    assert {"beta": -1.0} not in explored and {"beta": 2.0} in explored
