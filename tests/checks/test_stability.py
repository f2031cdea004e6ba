"""`stability`: overflows of intermediates inside the required range fail; correctly
rounded overflows, torch's own activations and breaks beyond the range pass."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import zoo
from torch import Tensor, nn

from acts import Activation, Kind, Properties
from verify.results import Status


def spec_of(name: str, fn: Any, reference: Any, limits: tuple[float, float], **props: Any) -> Activation:
    """A small unregistered spec around a plain function."""
    return Activation(
        name=name, kind=Kind.FORMULA, formula=name, source="test",
        module=lambda **kw: _Wrap(fn), functional=fn, reference=reference,
        properties=Properties(limits=limits, **props),
    )


class _Wrap(nn.Module):
    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


# -- planted bugs ---------------------------------------------------------------------
def naive_softplus(x: Tensor) -> Tensor:
    """Planted bug: log(1 + exp(x)); exp overflows at x = 88.7 in float32."""
    return torch.log(1 + torch.exp(x))


def where_softplus(x: Tensor) -> Tensor:
    """Planted bug from the wild: the overflow hidden behind torch.where. The forward
    is finite, but the unselected branch's gradient is 0 * exp(x) = 0 * inf = NaN."""
    return torch.where(x < 20, torch.log1p(torch.exp(x)), x)


def square_over_root(x: Tensor) -> Tensor:
    """Planted bug: x^2 / sqrt(x^2 + 1) grows like |x|, but x * x overflows float16
    from |x| = 256 (inf / inf = NaN)."""
    return x * x / torch.sqrt(x * x + 1)


class SigmoidExpBackward(torch.autograd.Function):
    """Planted bug: sigmoid with the derivative written exp(-x) / (1 + exp(-x))^2,
    inf / inf = NaN from x = -88.7 in float32."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.sigmoid(x)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        e = torch.exp(-x)
        return g * e / (1 + e) ** 2


def test_naive_softplus_fails_on_output(run: Any) -> None:
    r = run("stability", naive_softplus, name="naive_softplus")
    assert r.status is Status.FAIL, r.summary
    f32 = r.details["dtypes"]["float32"]
    assert f32["what"] == "output" and 88.0 < f32["first_break_pos"] < 89.5
    assert f32["first_break_neg"] is None
    assert 709 < r.details["dtypes"]["float64"]["first_break_pos"] < 711
    assert r.smallest_input is not None and r.repro and "--only stability" in r.repro


def test_where_hidden_overflow_fails_on_gradient(run: Any) -> None:
    r = run("stability", where_softplus, name="where_softplus")
    assert r.status is Status.FAIL, r.summary
    assert "gradient nan" in r.summary
    f32 = r.details["dtypes"]["float32"]
    assert f32["what"] == "gradient" and 88.0 < f32["first_break_pos"] < 89.5


def test_intermediate_square_overflow_fails_in_float16(run: Any) -> None:
    r = run("stability", square_over_root, name="square_over_root")
    assert r.status is Status.FAIL, r.summary
    f16 = r.details["dtypes"]["float16"]
    assert 255 < f16["first_break_pos"] < 257 and 255 < -f16["first_break_neg"] < 257  # located to 0.2%
    # float32 breaks only at 1.8e19, beyond the range: a finding, not the failure.
    assert r.details["dtypes"]["float32"]["first_break_pos"] > 1e19
    assert any(f.startswith("float32: output nan") for f in r.findings), r.findings
    assert r.summary.startswith("float16:")


def test_custom_backward_overflow_fails_on_negative_side(run: Any) -> None:
    r = run("stability", SigmoidExpBackward)
    assert r.status is Status.FAIL, r.summary
    f32 = r.details["dtypes"]["float32"]
    assert f32["first_break_pos"] is None and -89.5 < f32["first_break_neg"] < -88.0
    assert f32["what"] == "gradient"


# -- correct, if unusual --------------------------------------------------------------
@pytest.mark.parametrize("module", [nn.SiLU(), nn.Mish(), nn.Softsign(), nn.SELU(), nn.Tanh(),
                                    nn.PReLU(num_parameters=5)], ids=repr)
def test_torch_builtins_pass_clean(run: Any, module: nn.Module) -> None:
    r = run("stability", module)
    assert r.status is Status.PASS, r.summary
    assert r.findings == (), r.findings  # SELU's overflow at scale * max is correctly rounded


def test_hardswish_overflow_beyond_range_is_a_finding(run: Any) -> None:
    r = run("stability", nn.Hardswish())
    assert r.status is Status.PASS, r.summary
    f32 = r.details["dtypes"]["float32"]
    assert f32["what"] == "output" and 5.6e37 < f32["first_break_pos"] < 5.8e37  # max / 6
    assert any(f.startswith("float32: output inf first at x = 5.6") for f in r.findings), r.findings


def gelu_halving_last(x: Tensor) -> Tensor:
    """GELU with the halving done last: x (1 + erf) overflows from max / 2."""
    return x * (1 + torch.erf(x / math.sqrt(2))) / 2


def test_overflow_beyond_range_is_a_finding(run: Any) -> None:
    r = run("stability", gelu_halving_last, name="gelu_halving_last")
    assert r.status is Status.PASS, r.summary
    assert 1.69e38 < r.details["dtypes"]["float32"]["first_break_pos"] < 1.75e38  # max / 2
    assert any(f.startswith("float32: output inf") for f in r.findings), r.findings


def test_gelu_tanh_gradient_nan_beyond_range_is_a_finding(run: Any) -> None:
    r = run("stability", nn.GELU("tanh"))
    assert r.status is Status.PASS, r.summary
    f32 = r.details["dtypes"]["float32"]
    assert f32["what"] == "gradient" and f32["first_break_pos"] == -f32["first_break_neg"]
    assert any(f.startswith("float32: gradient nan") for f in r.findings), r.findings


def test_exponential_overflow_is_correctly_rounded(run: Any) -> None:
    # exp(x) is inf from x = 88.7 in float32 and 709.8 in float64 because its true
    # value is: no break, in any dtype, with or without a reference to say so.
    r = run("stability", torch.exp, name="exp")
    assert r.status is Status.PASS, r.summary
    assert r.findings == ()


def test_declared_stable_range_is_the_requirement(run: Any) -> None:
    # The naive softplus, promising only |x| <= 10 (float16's exp overflows at 11.1):
    # its breaks are then findings.
    spec = spec_of("softplus_short", naive_softplus, F.softplus, limits=(0.0, math.inf),
                   value_at_zero=math.log(2.0), stable_range=10.0)
    r = run("stability", spec)
    assert r.status is Status.PASS, r.summary
    assert r.details["dtypes"]["float16"]["required_range"] == 10.0
    assert len(r.findings) == 4


def test_domain_is_respected(run: Any) -> None:
    # log1p is NaN below -1 and -inf at -1: only the domain (-1, inf) is scanned.
    spec = spec_of("log1p_act", torch.log1p, torch.log1p, limits=(math.nan, math.inf))
    spec = Activation(**{**spec.__dict__, "domain": (-1.0, math.inf)})
    r = run("stability", spec)
    assert r.status is Status.PASS, r.summary
    assert r.details["dtypes"]["float64"]["first_break_neg"] is None


def test_nan_gradient_at_a_few_float16_values_only_fails(run: Any) -> None:
    r = run("stability", zoo.PeriodicTan)
    assert r.status is Status.FAIL, r.summary
    every = r.details["dtypes"]["float16"]["every_value"]
    # 64 and 14 on the machines measured; the exact count near |tan x| = 256 may move
    # by a value or two with the CPU's tan.
    assert every["values"] == 63488 and 40 <= every["inside"]["count"] <= 100 and every["beyond"]["count"] > 0
    first = every["inside"]["first"][0]
    assert first["what"] == "gradient" and abs(abs(first["x"]) - math.pi / 2) < 0.01 and math.isnan(first["value"])
    assert r.details["dtypes"]["bfloat16"]["every_value"]["inside"]["count"] == 0
    assert "gradient nan at" in r.summary and "of the 63488 finite float16 values" in r.summary, r.summary


def test_a_break_names_the_overflowing_intermediate(run: Any) -> None:
    r = run("stability", zoo.SwishExpRatio)
    assert r.status is Status.FAIL, r.summary
    assert r.details["break"]["dtype"] == "float64" and r.details["cause"] == "mul gave inf"
    r = run("stability", zoo.PeriodicTan)
    assert r.details["cause"] == "mul gave inf", r.details["cause"]  # tan(x) * tan(x) in float16
