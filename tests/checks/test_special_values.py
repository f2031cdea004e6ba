"""`special_values`: NaN swallowed or leaked, a wrong or NaN declared limit, a bad
f(-0.0) fail; torch's own activations (NaN limits and all) and a domain-restricted
spec pass."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from acts import Activation, Kind, Properties
from verify.results import Status


def spec_of(name: str, fn: Any, limits: tuple[float, float], value_at_zero: float = 0.0,
            **extra: Any) -> Activation:
    """A small unregistered spec around a plain function."""
    return Activation(
        name=name, kind=Kind.FORMULA, formula=name, source="test",
        module=lambda **kw: _Wrap(fn), functional=fn, reference=fn,
        properties=Properties(limits=limits, value_at_zero=value_at_zero), **extra,
    )


class _Wrap(nn.Module):
    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


# -- planted bugs ---------------------------------------------------------------------
def nan_to_zero(x: Tensor) -> Tensor:
    """Planted bug: a 'safe' tanh that scrubs NaN into 0 and hides the upstream fault."""
    return torch.nan_to_num(torch.tanh(x))


def where_relu(x: Tensor) -> Tensor:
    """Planted bug from the wild: ReLU as torch.where(x > 0, x, 0); NaN > 0 is False."""
    return torch.where(x > 0, x, 0.0)


def sum_leak(x: Tensor) -> Tensor:
    """Planted bug: a tensor-wide term (x.sum() * 0) that is 0 until one NaN arrives."""
    return torch.tanh(x) + x.sum() * 0


def max_normalised(x: Tensor) -> Tensor:
    """Planted bug: scales by the tensor-wide max, so one element depends on all."""
    return x / x.detach().abs().amax().clamp(min=1.0)


def x_log_abs_x(x: Tensor) -> Tensor:
    """Planted bug: x log|x| without its 0 case (0 * -inf = NaN at both zeros)."""
    return x * torch.log(x.abs())


def signbit_branch(x: Tensor) -> Tensor:
    """Planted bug: the negative branch picked by the sign bit, so -0.0 takes it
    (expm1(-0.0) - 1 = -1 while f(+0.0) = 0)."""
    return torch.where(torch.signbit(x), torch.expm1(x) - 1.0, x)


@pytest.mark.parametrize("fn", [nan_to_zero, where_relu])
def test_swallowed_nan_fails(run: Any, fn: Any) -> None:
    r = run("special_values", fn, name=fn.__name__)
    assert r.status is Status.FAIL, r.summary
    assert "NaN input gave 0" in r.summary
    assert r.details["dtypes"]["float64"]["nan_propagation"] == "swallowed"


@pytest.mark.parametrize("fn", [sum_leak, max_normalised])
def test_leaked_nan_fails(run: Any, fn: Any) -> None:
    r = run("special_values", fn, name=fn.__name__)
    assert r.status is Status.FAIL, r.summary
    assert r.details["dtypes"]["float32"]["nan_propagation"] == "leaked"


def test_wrong_declared_limit_fails(run: Any) -> None:
    r = run("special_values", spec_of("tanh_wrong", torch.tanh, limits=(-1.0, 2.0)))
    assert r.status is Status.FAIL, r.summary
    assert "f(+inf) = 1.0, the declared limit is 2.0" in r.summary


def test_nan_at_declared_limit_fails(run: Any) -> None:
    # torch's SiLU is NaN at -inf; declaring the limit 0 turns that finding into a failure.
    r = run("special_values", spec_of("silu_declared", F.silu, limits=(0.0, math.inf)))
    assert r.status is Status.FAIL, r.summary
    assert "f(-inf) is NaN" in r.summary


def test_wrong_declared_value_at_zero_fails(run: Any) -> None:
    r = run("special_values", spec_of("softplus_zero", F.softplus, limits=(0.0, math.inf), value_at_zero=0.0))
    assert r.status is Status.FAIL, r.summary
    assert "declared value at zero" in r.summary


def test_nan_at_negative_zero_fails(run: Any) -> None:
    r = run("special_values", x_log_abs_x, name="x_log_abs_x")
    assert r.status is Status.FAIL, r.summary
    assert "f(-0.0) is nan" in r.summary


def test_negative_zero_taking_the_wrong_branch_fails(run: Any) -> None:
    r = run("special_values", signbit_branch, name="signbit_branch")
    assert r.status is Status.FAIL, r.summary
    assert "f(-0.0) = -1.0, but f(+0.0) is 0.0" in r.summary


# -- correct, if unusual --------------------------------------------------------------
def test_silu_nan_at_minus_inf_is_a_finding(run: Any) -> None:
    r = run("special_values", nn.SiLU())
    assert r.status is Status.PASS, r.summary
    assert any(f.startswith("f(-inf) is NaN in float64, float32") for f in r.findings), r.findings
    assert "f(-inf) is NaN" in r.summary
    assert r.details["dtypes"]["float32"]["at_pos_inf"] == math.inf


@pytest.mark.parametrize("module", [nn.Mish(), nn.Hardswish(), nn.Softsign(), nn.GELU(), nn.GELU("tanh"),
                                    nn.SELU(), nn.Tanh(), nn.PReLU(num_parameters=5)], ids=repr)
def test_torch_builtins_pass(run: Any, module: nn.Module) -> None:
    r = run("special_values", module)
    assert r.status is Status.PASS, r.summary


def gaussian_gated(x: Tensor) -> Tensor:
    """x * exp(-x^2), written as papers write it: at +-inf it is inf * 0, NaN, though
    the limits are 0. (Its own code, not torch's kernels: a test may not hold torch's
    GELU at +-inf to one answer, since its AVX2 and AVX-512 kernels differ there.)"""
    return x * torch.exp(-x * x)


def test_nan_at_both_infinities_is_a_finding(run: Any) -> None:
    r = run("special_values", gaussian_gated, name="gaussian_gated")
    assert r.status is Status.PASS, r.summary
    assert {f.split(" is ")[0] for f in r.findings} == {"f(-inf)", "f(+inf)"}, r.findings


def test_correct_spec_passes_without_findings(run: Any) -> None:
    r = run("special_values", spec_of("tanh_right", torch.tanh, limits=(-1.0, 1.0)))
    assert r.status is Status.PASS, r.summary
    assert r.findings == ()


def test_domain_excluding_minus_inf_is_not_asked(run: Any) -> None:
    # log1p is NaN below -1; its domain excludes -inf, so no limit is asked there.
    spec = spec_of("log1p_act", torch.log1p, limits=(math.nan, math.inf), domain=(-1.0, math.inf))
    r = run("special_values", spec)
    assert r.status is Status.PASS, r.summary
    assert r.details["dtypes"]["float64"]["at_neg_inf"] == "outside domain"


def test_details_cover_every_dtype(run: Any) -> None:
    r = run("special_values", nn.Tanh(), dtypes=(torch.bfloat16,))
    assert list(r.details["dtypes"]) == ["float64", "float32", "bfloat16"]
    assert r.details["dtypes"]["bfloat16"] == {"nan_propagation": "ok", "at_neg_inf": -1.0, "at_pos_inf": 1.0,
                                               "at_neg_zero": -0.0}


class HalvingTanh(nn.Module):
    """Planted bug: tanh by argument reduction, sized from the input. The input is halved
    k times until |x| <= 1/2, a Taylor polynomial is taken, and tanh(2u) =
    2 tanh(u) / (1 + tanh(u)^2) doubles it back; k comes from max |x| as a Python int,
    which a NaN (or an infinity) cannot become."""

    def forward(self, x: Tensor) -> Tensor:
        k = max(0, math.ceil(math.log2(2 * float(x.detach().abs().max()) + 1e-300)))
        u = x / 2**k
        t = u - u**3 / 3 + 2 * u**5 / 15 - 17 * u**7 / 315
        for _ in range(k):
            t = 2 * t / (1 + t * t)
        return t


def test_a_subject_that_crashes_on_a_special_input_fails_naming_it(run: Any) -> None:
    result = run("special_values", HalvingTanh())
    assert result.status is Status.FAIL, result.summary
    assert result.summary.startswith("float64: a NaN input crashes the activation: ValueError: cannot convert "
                                     "float NaN to integer"), result.summary
    assert "more" in result.summary  # the infinities crash it too
