"""`matches`: a fast implementation against its eager reference (``--reference``).

The fast subjects are written the way kernel libraries and model code write them: a
fused ``autograd.Function`` that upcasts half precision to float32 and saves only its
input, a module whose parameters enter a hand-written backward, a custom op.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from verify.cli import main
from verify.plugin import iter_checks
from verify.results import Status

HERE = __file__


def _upcast(x: Tensor) -> Tensor:
    return x if x.dtype == torch.float64 else x.float()


class FusedSiLU(torch.autograd.Function):
    """SiLU in one kernel: the math in float32 (float64 stays), only x saved for backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        xf = _upcast(x)
        return (xf * torch.sigmoid(xf)).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        xf = _upcast(x)
        s = torch.sigmoid(xf)
        return (_upcast(grad) * s * (1 + xf * (1 - s))).to(x.dtype)


class FusedGELU(torch.autograd.Function):
    """Exact (erf) GELU, fused: Phi(x) and x phi(x) from one erf and one exp."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        xf = _upcast(x)
        return (0.5 * xf * (1 + torch.erf(xf * math.sqrt(0.5)))).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        xf = _upcast(x)
        cdf = 0.5 * (1 + torch.erf(xf * math.sqrt(0.5)))
        pdf = torch.exp(-0.5 * xf * xf) / math.sqrt(2 * math.pi)
        return (_upcast(grad) * (cdf + xf * pdf)).to(x.dtype)


class FastSiLUBF16(torch.autograd.Function):
    """Planted bug: a bfloat16 fast path with a piecewise-linear sigmoid, on the belief
    that bfloat16's 8 bits cannot tell it from the real one; float32 and float16 take
    the exact path."""

    @staticmethod
    def _gate(x: Tensor) -> Tensor:
        if x.dtype == torch.bfloat16:
            return (x / 6 + 0.5).clamp(0, 1)
        return torch.sigmoid(_upcast(x))

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return (_upcast(x) * FastSiLUBF16._gate(x)).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        if x.dtype == torch.bfloat16:
            slope = ((x > -3) & (x < 3)).to(x.dtype) / 6
            return grad * (FastSiLUBF16._gate(x) + x * slope)
        xf = _upcast(x)
        s = torch.sigmoid(xf)
        return (_upcast(grad) * s * (1 + xf * (1 - s))).to(x.dtype)


class ClampedSiLU(torch.autograd.Function):
    """Planted bug: the input clamped to [-10, 10] "so exp cannot overflow"; right near 0."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        xf = _upcast(x).clamp(-10.0, 10.0)
        ctx.save_for_backward(xf)
        return (xf * torch.sigmoid(xf)).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (xf,) = ctx.saved_tensors
        s = torch.sigmoid(xf)
        return (_upcast(grad) * s * (1 + xf * (1 - s))).to(grad.dtype)


class ScaledSwish(nn.Module):
    """The eager reference: gamma * x * sigmoid(beta * x), two trainable scalars."""

    def __init__(self) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.tensor(1.25))
        self.gamma = nn.Parameter(torch.tensor(0.8))

    def forward(self, x: Tensor) -> Tensor:
        return self.gamma * x * torch.sigmoid(self.beta * x)


class _ScaledSwishFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, beta: Tensor, gamma: Tensor) -> Tensor:
        ctx.save_for_backward(x, beta, gamma)
        return gamma * x * torch.sigmoid(beta * x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x, beta, gamma = ctx.saved_tensors
        s = torch.sigmoid(beta * x)
        dx = grad * gamma * s * (1 + beta * x * (1 - s))
        dbeta = (grad * gamma * x * x * s * (1 - s)).sum().reshape(beta.shape)
        dgamma = (grad * x * s).sum().reshape(gamma.shape)
        return dx, dbeta, dgamma


class _ScaledSwishBetaBug(_ScaledSwishFn):
    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        dx, _, dgamma = _ScaledSwishFn.backward(ctx, grad)
        x, beta, gamma = ctx.saved_tensors
        s = torch.sigmoid(beta * x)
        # Planted bug: d/dbeta of sigmoid(beta x) is x s (1 - s); one factor x is lost.
        dbeta = (grad * gamma * x * s * (1 - s)).sum().reshape(beta.shape)
        return dx, dbeta, dgamma


class FusedScaledSwish(nn.Module):
    """The fused form of ScaledSwish, with the same parameter names."""

    fn: Any = _ScaledSwishFn

    def __init__(self) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.tensor(1.25))
        self.gamma = nn.Parameter(torch.tensor(0.8))

    def forward(self, x: Tensor) -> Tensor:
        return self.fn.apply(x, self.beta, self.gamma)


class FusedScaledSwishBetaBug(FusedScaledSwish):
    fn = _ScaledSwishBetaBug


class FusedScaledSwishRenamed(nn.Module):
    """Correct, but its slope is called ``b``: nothing in the reference to match it with."""

    def __init__(self) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.tensor(1.25))
        self.gamma = nn.Parameter(torch.tensor(0.8))

    def forward(self, x: Tensor) -> Tensor:
        return _ScaledSwishFn.apply(x, self.b, self.gamma)


def with_reference(reference: str) -> dict[str, Any]:
    return {"options": {"matches": {"reference": reference}}}


@pytest.mark.parametrize(("fast", "reference"), [(FusedSiLU, "torch.nn:SiLU"), (FusedGELU, "torch.nn:GELU"),
                                                 (FusedScaledSwish, f"{HERE}:ScaledSwish")])
def test_a_fused_function_that_matches_its_eager_form_passes(run: Any, fast: Any, reference: str) -> None:
    r = run("matches", fast, **with_reference(reference))
    assert r.status is Status.PASS, r.summary
    assert "second derivative" in r.summary and {"float64", "float32", "bfloat16", "float16"} <= set(r.details["worst"])


def test_the_parameters_are_matched_by_name(run: Any) -> None:
    r = run("matches", FusedScaledSwish, **with_reference(f"{HERE}:ScaledSwish"))
    assert "gradient of beta" in r.summary and "gradient of gamma" in r.summary, r.summary


def test_a_bfloat16_fast_path_fails_in_bfloat16_only(run: Any) -> None:
    r = run("matches", FastSiLUBF16, dtypes=(torch.float32, torch.float16), **with_reference("torch.nn:SiLU"))
    assert r.status is Status.PASS, r.summary
    r = run("matches", FastSiLUBF16, **with_reference("torch.nn:SiLU"))
    assert r.status is Status.FAIL, r.summary
    assert "in bfloat16 off at x=" in r.summary and "ulps" in r.summary, r.summary
    assert r.details["dtype"] == "bfloat16" and r.smallest_input is not None


def test_a_wrong_parameter_gradient_fails_naming_the_parameter(run: Any) -> None:
    r = run("matches", FusedScaledSwishBetaBug, **with_reference(f"{HERE}:ScaledSwish"))
    assert r.status is Status.FAIL, r.summary
    assert r.summary.startswith("gradient of beta in float64 off"), r.summary
    assert r.details["quantity"] == "gradient of beta" and r.smallest_input is not None


def test_a_parameter_without_counterpart_is_named(run: Any) -> None:
    r = run("matches", FusedScaledSwishRenamed, **with_reference(f"{HERE}:ScaledSwish"))
    assert r.status is Status.PASS, r.summary
    assert any("'b'" in f and "no counterpart" in f for f in r.findings), r.findings
    assert "gradient of b," not in r.summary and "gradient of gamma" in r.summary


def test_a_clamp_beyond_ten_fails_there(run: Any) -> None:
    r = run("matches", ClampedSiLU, **with_reference("torch.nn.functional:silu"))
    assert r.status is Status.FAIL, r.summary
    assert abs(r.details["x"]) > 10 and "off at x=" in r.summary, r.summary


def test_without_a_reference_it_is_a_skip_at_no_cost(run: Any) -> None:
    calls = []

    def silu(x: Tensor) -> Tensor:
        calls.append(x.shape)
        return F.silu(x)

    r = run("matches", silu)
    assert r.status is Status.SKIP and "--reference" in r.summary
    assert calls == []  # neither the subject nor anything about it was computed


class OnceDifferentiableSiLU(FusedSiLU):
    """Correct, with a backward that autograd cannot differentiate again."""

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return FusedSiLU.backward(ctx, grad)


def test_a_once_differentiable_backward_skips_the_second_order_with_the_reason(run: Any) -> None:
    r = run("matches", OnceDifferentiableSiLU, **with_reference("torch.nn:SiLU"))
    assert r.status is Status.PASS, r.summary
    assert "second derivative" not in r.summary
    assert "second derivative not compared: the subject's backward is once_differentiable" in r.findings


@pytest.mark.skipif(not hasattr(torch.library, "custom_op"), reason="torch.library.custom_op is new in torch 2.4")
def test_a_cuda_only_kernel_on_the_cpu_is_a_skip_that_says_so(run: Any) -> None:
    @torch.library.custom_op(f"planted_{uuid.uuid4().hex[:8]}::silu", mutates_args=(), device_types="cuda")
    def silu_cuda(x: Tensor) -> Tensor:
        return F.silu(x)

    r = run("matches", silu_cuda, device="cpu", **with_reference("torch.nn:SiLU"))
    assert r.status is Status.SKIP, r.summary
    assert r.summary == "the subject runs only on CUDA; run with --device cuda"


def test_the_plugin_takes_a_reference() -> None:
    pairs = list(iter_checks([FusedSiLU], only=["matches"], profile="quick", reference=nn.SiLU))
    (subject, check), = pairs
    assert check.options == {"matches": {"reference": "torch.nn.modules.activation:SiLU"}}
    check(subject)  # passes: no pytest outcome raised


def test_a_reference_that_cannot_be_resolved_is_usage_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "torch.nn:Tanh", "--only", "matches", "--reference", "no_such_activation_xyz"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--reference" in err and "unknown activation" in err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_a_failure_repro_carries_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "torch.nn:Tanh", "--only", "matches", "--reference", "torch.nn:SiLU",
                 "--profile", "quick", "--jobs", "1", "--quiet"])
    out = capsys.readouterr()
    assert code == 1, out.out + out.err
    assert "--only matches --profile quick --reference torch.nn:SiLU" in out.out + out.err
