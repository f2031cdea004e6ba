"""`saturation`: a declared non-saturating activation whose float32 gradient dies fails;
textbook regions and dead fractions are found where they are."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
import torch
import zoo
from torch import Tensor, nn

import acts
from acts import Activation, Kind, Properties
from verify.results import Status

F32_MAX = torch.finfo(torch.float32).max
F64_MAX = torch.finfo(torch.float64).max


class IdentityDiesInFloat32(torch.autograd.Function):
    """Planted bug: the identity, whose backward zeroes the gradient beyond |x| > 4 in
    float32 only (a mask left over from a clipped variant). float64 gradcheck passes."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.clone()

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        if x.dtype == torch.float32:
            return g * (x.abs() <= 4).to(g.dtype)
        return g.clone()


class _Module(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return IdentityDiesInFloat32.apply(x)


DIES_IN_FLOAT32 = Activation(
    name="identity_dies_in_float32", kind=Kind.CUSTOM_BACKWARD, formula="x", source="test",
    module=lambda **kw: _Module(), functional=IdentityDiesInFloat32.apply, reference=lambda x: x.clone(),
    properties=Properties(limits=(-math.inf, math.inf), saturates=False),
)


def declared(name: str, saturates: bool | None) -> Activation:
    spec = acts.get(name)
    return dataclasses.replace(spec, name=f"{name}_declared", aliases=(),
                               properties=dataclasses.replace(spec.properties, saturates=saturates))


# -- planted bugs -----------------------------------------------------------------------
def test_gradient_dying_in_float32_contradicts_declaration(run: Any) -> None:
    r = run("saturation", DIES_IN_FLOAT32)
    assert r.status is Status.FAIL, r.summary
    assert "declares no saturation" in r.summary
    f32 = r.details["dtypes"]["float32"]
    assert f32["vanishing"] == [[-F32_MAX, -4.000000476837158], [4.000000476837158, F32_MAX]]
    # float64 has gradient 1 there: the zero is the float32 code path's, not the function's.
    assert f32["zero_grad"] == f32["vanishing"]
    assert r.details["dtypes"]["float64"]["vanishing"] == []
    assert r.smallest_input is not None and abs(r.smallest_input[0]) < 4.1
    assert any("lost to float32" in f for f in r.findings)


def test_declared_saturation_that_never_happens_fails(run: Any) -> None:
    r = run("saturation", declared("leaky_relu", True))
    assert r.status is Status.FAIL, r.summary
    assert "declares saturation" in r.summary


# -- correct activations ----------------------------------------------------------------
def test_leaky_relu_declared_non_saturating_passes(run: Any) -> None:
    r = run("saturation", declared("leaky_relu", False))
    assert r.status is Status.PASS, r.summary
    for record in r.details["dtypes"].values():
        assert record["vanishing"] == [] and record["dead_fraction"]["1"] == 0.0


def test_scaled_tanh_declared_saturating_passes(run: Any) -> None:
    r = run("saturation", declared("scaled_tanh", True))
    assert r.status is Status.PASS, r.summary
    assert r.details["declared_saturates"] is True


def test_undeclared_module_is_only_described(run: Any) -> None:
    r = run("saturation", nn.Tanh())
    assert r.status is Status.PASS, r.summary
    assert r.details["declared_saturates"] is None


@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16", "float16"])
def test_relu_dead_fraction_is_one_half_for_every_sigma(run: Any, dtype: str) -> None:
    r = run("saturation", acts.get("relu"))
    assert r.status is Status.PASS, r.summary
    record = r.details["dtypes"][dtype]
    assert set(record["dead_fraction"]) == {"0.5", "1", "2", "5"}
    assert all(p == 0.5 for p in record["dead_fraction"].values()), record["dead_fraction"]
    # ReLU's zero gradient below 0 is a flat piece of the function, not rounding.
    assert record["vanishing"] == record["flat"] == [[-record["max"], 0.0]]
    assert record["zero_grad"] == []


def test_tanh_gradient_is_exactly_zero_from_9_in_float32_and_19_in_float64(run: Any) -> None:
    r = run("saturation", torch.tanh, name="tanh")
    f32, f64 = r.details["dtypes"]["float32"], r.details["dtypes"]["float64"]
    # 1 - tanh(x)^2 is 0 once tanh(x) rounds to 1, where 1 - tanh(x) = 2 exp(-2x) is half
    # an ulp below 1: from about log(2^26) / 2 = 9.0109 in float32 (torch's kernel rounds
    # up from 9.01084, 8e-6 early) and log(2^55) / 2 = 19.0615 in float64.
    (neg32, pos32), (neg64, pos64) = f32["zero_grad"], f64["zero_grad"]
    assert pos32[1] == F32_MAX and neg32 == [-F32_MAX, -pos32[0]]
    assert pos32[0] == pytest.approx(math.log(2.0**26) / 2, rel=1e-4)
    assert pos64[1] == F64_MAX and neg64 == [-F64_MAX, -pos64[0]]
    assert pos64[0] == pytest.approx(math.log(2.0**55) / 2, rel=1e-6)
    # |f'| = sech(x)^2 < 1e-3 from acosh(sqrt(1000)) = 4.1468.
    assert f64["vanishing"][1][0] == pytest.approx(math.acosh(math.sqrt(1e3)), rel=1e-12)
    assert f64["flat"] == [] and f64["exploding"] == [] and f64["nonfinite"] == []


def test_threshold_from_options(run: Any) -> None:
    r = run("saturation", torch.tanh, name="tanh", options={"saturation": {"vanishing": 0.5}})
    lo = r.details["dtypes"]["float64"]["vanishing"][1][0]
    assert lo == pytest.approx(math.acosh(math.sqrt(2.0)), rel=1e-12)  # sech(x)^2 = 1/2
    assert r.details["thresholds"]["vanishing"] == 0.5


def test_gelu_narrow_dip_at_its_minimum_is_found(run: Any) -> None:
    r = run("saturation", acts.get("gelu"))
    vanishing = r.details["dtypes"]["float64"]["vanishing"]
    # GELU's derivative changes sign at x = -0.75179 (its minimum); |f'| < 1e-3 only on a
    # window 0.005 wide around it, between two grid points.
    dip = [iv for iv in vanishing if iv[0] > -1]
    assert len(dip) == 1 and dip[0][0] < -0.75179 < dip[0][1] and dip[0][1] - dip[0][0] < 0.006
    dead = r.details["dtypes"]["float64"]["dead_fraction"]
    assert 0.0 < dead["1"] < 0.002


def test_exploding_and_nonfinite_regions(run: Any) -> None:
    def cube_root(x: Tensor) -> Tensor:
        """sign(x) |x|^(1/3): f' = |x|^(-2/3) / 3 explodes near 0 and is inf at 0."""
        return torch.sign(x) * x.abs().pow(1.0 / 3.0)

    r = run("saturation", cube_root, name="cube_root")
    assert r.status is Status.PASS, r.summary
    f64 = r.details["dtypes"]["float64"]
    # |x|^(-2/3) / 3 > 1e3 for 0 < |x| < 3e3^(-3/2) = 6.09e-6; at 0 autograd gives NaN;
    # < 1e-3 beyond (1e3 / 3)^(3/2) = 6085.8.
    (neg, pos) = f64["exploding"]
    assert pos[1] == pytest.approx(3e3**-1.5, rel=1e-9) and neg[0] == -pos[1]
    assert 0 < pos[0] < 1e-20 and neg[1] == -pos[0]
    assert f64["nonfinite"] == [[0.0, 0.0]]
    assert f64["vanishing"][1][0] == pytest.approx((1e3 / 3) ** 1.5, rel=1e-9)


def test_dead_activation_fails(run: Any) -> None:
    r = run("saturation", zoo.ZeroActivation)
    assert r.status is Status.FAIL, r.summary
    assert r.summary.startswith("constant output, no gradient flows")
