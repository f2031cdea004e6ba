"""`kinks`: a gradient outside the subdifferential, a NaN gradient, a hidden jump and a
declared kink that is not there fail; the kinks of the piecewise activations are found
exactly, smooth ones have none, and every registered and built-in activation passes."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
import torch
from _subjects import MidpointReLU
from torch import Tensor, nn

import acts
from acts import Activation, Kind, Kink, Properties
from verify.analysis.kinkscan import kinks, scan_kinks, second_order_kinks
from verify.checks import CHECKS, Context
from verify.results import Status
from verify.runner import run_check
from verify.subject import from_spec
from verify.targets import from_object


def spec_of(name: str, fn: Any, **extra: Any) -> Activation:
    """A small unregistered spec around a plain function."""
    return Activation(
        name=name, kind=Kind.FORMULA, formula=name, source="test",
        module=lambda **kw: _Wrap(fn), functional=fn, reference=fn,
        properties=Properties(limits=(-math.inf, math.inf)), **extra,
    )


class _Wrap(nn.Module):
    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


def kinks_at(details: dict[str, Any], params: Any = None) -> list[float]:
    return sorted({e["x"] for e in details["kinks"] if e["kink"] and e["params"] == params})


# -- planted bugs ---------------------------------------------------------------------
class ReLUGradTwoAtZero(torch.autograd.Function):
    """Planted bug: ReLU whose backward returns 2 at x = 0, outside [0, 1]. Exact
    everywhere else, so gradcheck's random points never see it."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return g * ((x > 0).to(g.dtype) + 2 * (x == 0).to(g.dtype))


def relu_via_sqrt(x: Tensor) -> Tensor:
    """Planted bug: ReLU as (x + |x|) / 2 with |x| written sqrt(x * x): the value is
    right, the gradient at 0 is 0 * inf = NaN."""
    return (x + torch.sqrt(x * x)) / 2


def leaky_relu_offset(x: Tensor) -> Tensor:
    """Planted bug: a leaky ReLU with a stray bias on one branch: a jump of 0.01 at 0."""
    return torch.where(x > 0, x + 0.01, 0.01 * x)


def soft_relu_eps(x: Tensor) -> Tensor:
    """Planted bug: ReLU smoothed as (x + sqrt(x^2 + 1e-12)) / 2. Fine in float64 and
    float32; in float16 the 1e-12 underflows and the gradient at 0 is 0 / 0."""
    return 0.5 * (x + torch.sqrt(x * x + 1e-12))


SILU_WITH_FALSE_KINK = spec_of("silu_false_kink", torch.nn.functional.silu, kinks=(Kink(0.0),))
RELU_UNDECLARED = spec_of("relu_undeclared", torch.relu)


def test_gradient_outside_subdifferential_fails(run: Any) -> None:
    r = run("kinks", ReLUGradTwoAtZero)
    assert r.status is Status.FAIL, r.summary
    assert "outside the subdifferential [0, 1]" in r.summary and r.smallest_input == [0.0]
    assert r.repro and "--only kinks" in r.repro
    (entry,) = r.details["kinks"]
    assert entry["grad_at_kink"]["float64"] == 2.0 and not entry["inside_subdifferential"]


def test_nan_gradient_at_kink_fails(run: Any) -> None:
    r = run("kinks", relu_via_sqrt)
    assert r.status is Status.FAIL, r.summary
    assert "nan" in r.summary and r.smallest_input == [0.0]
    assert all(math.isnan(g) for g in r.details["kinks"][0]["grad_at_kink"].values())


def test_nan_gradient_in_float16_only_fails(run: Any) -> None:
    r = run("kinks", soft_relu_eps)
    assert r.status is Status.FAIL, r.summary
    assert r.summary == "autograd's gradient at x=0 is nan in float16"
    (entry,) = r.details["kinks"]
    assert entry["inside_by_dtype"] == {"float64": True, "float32": True, "bfloat16": True, "float16": False}


def test_hidden_jump_fails(run: Any) -> None:
    r = run("kinks", leaky_relu_offset)
    assert r.status is Status.FAIL, r.summary
    assert "hidden jump" in r.summary
    (entry,) = r.details["kinks"]
    assert entry["x"] == 0.0 and not entry["continuous"] and entry["smoothness"] == "discontinuous"
    assert entry["jump"] == pytest.approx(0.01, rel=1e-9)


def test_declared_kink_that_is_not_there_fails(run: Any) -> None:
    r = run("kinks", SILU_WITH_FALSE_KINK)
    assert r.status is Status.FAIL, r.summary
    assert "declares a kink at x=0" in r.summary and "neither a kink nor a jump" in r.summary


def test_undeclared_kink_of_a_spec_fails(run: Any) -> None:
    r = run("kinks", RELU_UNDECLARED)
    assert r.status is Status.FAIL, r.summary
    assert "undeclared kink at x=0" in r.summary


def test_undeclared_softplus_jump_fails() -> None:
    """A spec must declare even a float64-only jump: gradcheck relies on the list."""
    spec = dataclasses.replace(acts.get("softplus"), kinks=())
    r = run_check(from_spec(spec), CHECKS["kinks"], Context())
    assert r.status is Status.FAIL, r.summary
    assert "jumps by -2.06e-09 at x=20" in r.summary and "declares no jump" in r.summary


# -- correct but unusual ------------------------------------------------------------------



def test_midpoint_convention_passes(run: Any) -> None:
    r = run("kinks", MidpointReLU)
    assert r.status is Status.PASS, r.summary
    (entry,) = r.details["kinks"]
    assert entry["convention"] == "midpoint" and entry["grad_at_kink"] == dict.fromkeys(
        ("float64", "float32", "bfloat16", "float16"), 0.5)


def test_undeclared_kink_without_spec_is_reported_not_failed(run: Any) -> None:
    r = run("kinks", lambda x: torch.relu(x - 0.3), name="shifted_relu")
    assert r.status is Status.PASS, r.summary
    (entry,) = r.details["kinks"]
    assert entry["x"] == 0.3 and abs(entry["located"] - 0.3) < 1e-9 and not entry["declared"]


# -- kinks found exactly -------------------------------------------------------------------
PIECEWISE = ["relu", "leaky_relu", "relu6", "hardtanh", "hardswish", "hardswish_fn", "hardsigmoid", "srelu",
             "bipolar_relu", "apl", "prelu", "selu"]


@pytest.mark.parametrize("name", PIECEWISE)
def test_finds_exactly_the_declared_kinks(name: str) -> None:
    """At every parameter setting the scan alone (``located``, not the declaration)
    finds each kink within 1e-9, and nothing else."""
    spec = acts.get(name)
    subject = from_spec(spec)
    r = run_check(subject, CHECKS["kinks"], Context())
    assert r.status is Status.PASS, r.summary
    for i, params in enumerate(subject.param_settings()):
        # A declared kink may vanish at an edge value (PReLU with weight 1 is the
        # identity): a finding there, never at the defaults.
        degenerate = [e["x"] for e in r.details["kinks"] if e["params"] == params and e["declared"] and not e["kink"]]
        assert not degenerate or (i > 0 and any("degenerates" in f for f in r.findings))
        expected = [x for x in spec.kink_points(params) if x not in degenerate]
        assert kinks_at(r.details, params) == expected, params
        for e in (e for e in r.details["kinks"] if e["params"] == params and e["kink"]):
            assert e["located"] is not None and abs(e["located"] - e["x"]) < 1e-9, e
            assert e["continuous"] and e["smoothness"] == "C0" and e["declared"]


@pytest.mark.parametrize(("module", "expected"), [
    (nn.ReLU(), [0.0]), (nn.LeakyReLU(), [0.0]), (nn.ReLU6(), [0.0, 6.0]), (nn.Hardtanh(), [-1.0, 1.0]),
    (nn.Hardswish(), [-3.0, 3.0]), (nn.Hardsigmoid(), [-3.0, 3.0]), (nn.PReLU(num_parameters=3), [0.0]),
])
def test_finds_kinks_of_builtins_without_a_spec(module: nn.Module, expected: list[float]) -> None:
    subject = from_object(module, name=type(module).__name__, target="test")
    assert kinks(subject) == expected
    assert scan_kinks(subject) == expected


@pytest.mark.parametrize("name", ["silu", "gelu", "gelu_tanh", "mish", "tanhexp", "squareplus"])
def test_smooth_activations_have_no_kinks(name: str) -> None:
    r = run_check(from_spec(acts.get(name)), CHECKS["kinks"], Context())
    assert r.status is Status.PASS and r.details["kinks"] == [], r.summary


def test_softplus_threshold_is_a_declared_float64_only_jump() -> None:
    """torch's switch to the identity above beta x = 20 leaves log1p(exp(-20)) = 2.1e-9:
    found, measured, and declared by the spec; no slope kink anywhere else."""
    r = run_check(from_spec(acts.get("softplus")), CHECKS["kinks"], Context())
    assert r.status is Status.PASS, r.summary
    for e in r.details["kinks"]:
        threshold, beta = e["params"]["threshold"], e["params"]["beta"]
        assert e["x"] == threshold / beta and e["declared_jump"] and not e["continuous"]
        assert e["jump"] == pytest.approx(-math.log1p(math.exp(-threshold)) / beta, rel=1e-3)
        assert abs(e["left_derivative"] - e["right_derivative"]) < 1e-6
    assert len(r.details["kinks"]) == len(acts.get("softplus").param_settings())


def test_torch_softplus_jump_is_a_finding_not_a_failure(run: Any) -> None:
    r = run("kinks", nn.Softplus())
    assert r.status is Status.PASS, r.summary
    assert any("x=20" in f and "below half a float32 ulp" in f for f in r.findings)


@pytest.mark.parametrize("target", [acts.get("elu"), nn.ELU(), nn.CELU()], ids=["acts.elu", "nn.ELU", "nn.CELU"])
def test_elu_is_c1_not_c2(run: Any, target: Any) -> None:
    r = run("kinks", target, name="elu")
    assert r.status is Status.PASS, r.summary
    assert "C1 not C2 at x=0" in r.summary
    (entry,) = r.details["kinks"]
    assert entry["smoothness"] == "C1" and not entry["kink"]
    assert entry["left_derivative"] == pytest.approx(1.0) and entry["right_derivative"] == pytest.approx(1.0)
    assert entry["left_second_derivative"] == pytest.approx(1.0, abs=1e-6)
    assert entry["right_second_derivative"] == pytest.approx(0.0, abs=1e-6)


def test_bipolar_relu_reports_each_kind_of_channel() -> None:
    r = run_check(from_spec(acts.get("bipolar_relu")), CHECKS["kinks"], Context())
    by_channels = {tuple(e["channels"]): e["convention"] for e in r.details["kinks"]}
    assert by_channels == {(0, 2): "left", (1, 3): "right"}


def test_details_carry_the_promised_keys() -> None:
    r = run_check(from_spec(acts.get("relu6")), CHECKS["kinks"], Context())
    keys = {"x", "left_derivative", "right_derivative", "grad_at_kink", "inside_subdifferential", "continuous",
            "jump", "smoothness", "declared"}
    for e in r.details["kinks"]:
        assert keys <= set(e)
        assert e["builtin_convention"] == ("left" if e["x"] == 0 else "right")  # torch's relu6: 0 at both
    json.dumps(r.to_json(), allow_nan=False)


# -- nothing false --------------------------------------------------------------------------
BUILTINS = {
    "ReLU": nn.ReLU(), "LeakyReLU": nn.LeakyReLU(), "PReLU": nn.PReLU(num_parameters=4), "ELU": nn.ELU(),
    "CELU": nn.CELU(), "SELU": nn.SELU(), "GELU": nn.GELU(), "GELU_tanh": nn.GELU(approximate="tanh"),
    "SiLU": nn.SiLU(), "Mish": nn.Mish(), "Softplus": nn.Softplus(), "Hardswish": nn.Hardswish(),
    "Hardsigmoid": nn.Hardsigmoid(), "Hardtanh": nn.Hardtanh(), "ReLU6": nn.ReLU6(), "Tanh": nn.Tanh(),
    "Sigmoid": nn.Sigmoid(), "Softsign": nn.Softsign(), "Tanhshrink": nn.Tanhshrink(), "LogSigmoid": nn.LogSigmoid(),
}


@pytest.mark.parametrize("name", BUILTINS)
def test_torch_builtins_pass(run: Any, name: str) -> None:
    r = run("kinks", BUILTINS[name], name=name)
    assert r.status is Status.PASS, r.summary


@pytest.mark.parametrize("name", [s.name for s in acts.all_activations()])
def test_registered_activations_pass(name: str) -> None:
    subject = from_spec(acts.get(name))
    r = run_check(subject, CHECKS["kinks"], Context())
    if subject.layout.kind == "vector":  # no line of one variable to find kinks on
        assert r.status is Status.SKIP and "vector activation" in r.summary, r.summary
        return
    assert r.status is Status.PASS, r.summary


def test_gradient_checks_stay_off_detected_kinks(run: Any) -> None:
    """The kink set reaches the samplers: a kinked function without a spec passes
    gradcheck, and a NaN gradient at 0 is a point to avoid, not a gradcheck failure."""
    subject = from_object(relu_via_sqrt, name="relu_via_sqrt", target="test")
    assert kinks(subject) == [0.0]
    assert run("gradcheck", relu_via_sqrt).status is Status.PASS
    assert second_order_kinks(from_object(nn.ELU(), name="ELU", target="test")) == [0.0]


def test_plot_draws_each_kink() -> None:
    from verify.report.plots.kinks import plot_kinks

    r = run_check(from_spec(acts.get("hardswish")), CHECKS["kinks"], Context())
    picture = plot_kinks("hardswish", r.to_json()["details"])
    assert picture is not None and picture.startswith("<svg") and "x = -3" in picture
    assert plot_kinks("silu", {"kinks": []}) is None
