"""A subject that computes float64 inputs in float32 (an upcast and a downcast, as
transformer code writes it) is judged at float32's resolution: a correct backward passes
gradcheck, gradgradcheck and forward_ad with the finding, float32's rounding is no kink
and its real kinks are still found; a wrong backward still fails."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from verify.analysis.precision import finding, resolution
from verify.results import Status
from verify.targets import from_object


class NewGELUActivation(nn.Module):
    """GELU's tanh approximation as transformers writes it, computed in float32 whatever
    the input's dtype: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""

    def forward(self, input: Tensor) -> Tensor:
        x = input.float()
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))
        return (0.5 * x * (1.0 + torch.tanh(inner))).to(input.dtype)


class MishFunction(torch.autograd.Function):
    """Mish, x tanh(softplus(x)), as a fused Function that upcasts to float32 and saves
    only the input (the timm memory-efficient form); its backward differentiates again."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        xf = x.float()
        return (xf * torch.tanh(F.softplus(xf))).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        xf = x.float()
        sp = F.softplus(xf)
        t = torch.tanh(sp)
        grad = t + xf * (1 - t * t) * torch.sigmoid(xf)
        return grad_output * grad.to(x.dtype)


class MishMissingTerm(torch.autograd.Function):
    """Planted bug: the same fused Mish whose derivative drops the chain-rule term
    x sech^2(softplus(x)) sigmoid(x), leaving tanh(softplus(x))."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        xf = x.float()
        return (xf * torch.tanh(F.softplus(xf))).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad_output * torch.tanh(F.softplus(x.float())).to(x.dtype)


class ShiftedReLU32(nn.Module):
    """A ReLU with a tanh leak, relu(x) + 0.1 tanh(x), computed in float32: a kink at 0."""

    def forward(self, x: Tensor) -> Tensor:
        y = x.float()
        return (F.relu(y) + 0.1 * torch.tanh(y)).to(x.dtype)


class ShiftedReLU64(nn.Module):
    """The same function in the input's dtype."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x) + 0.1 * torch.tanh(x)


class BF16Tanh(nn.Module):
    """tanh computed in bfloat16 whatever the input's dtype."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(x.bfloat16()).to(x.dtype)


def _resolution(obj: Any) -> torch.dtype:
    return resolution(from_object(obj, name=getattr(obj, "__name__", "s"), target="test:s"))


def test_resolution_is_detected() -> None:
    assert _resolution(NewGELUActivation) == torch.float32
    assert _resolution(MishFunction) == torch.float32
    assert _resolution(BF16Tanh) == torch.bfloat16
    for full in (nn.GELU, nn.Mish, nn.ReLU, ShiftedReLU64, nn.Hardtanh):
        assert _resolution(full) == torch.float64, full


def test_float32_inside_correct_backward_passes_with_the_finding(run: Any) -> None:
    for subject in (NewGELUActivation, MishFunction):
        r = run("gradcheck", subject)
        assert r.status is Status.PASS, (subject, r.summary)
        assert finding(torch.float32) in r.findings
        assert "float32's resolution" in r.summary
        for check_id in ("gradgradcheck", "forward_ad"):
            r = run(check_id, subject)
            assert r.status in (Status.PASS, Status.SKIP), (subject, check_id, r.summary)
    assert run("gradgradcheck", NewGELUActivation).status is Status.PASS
    assert run("forward_ad", NewGELUActivation).status is Status.PASS


def test_float32_rounding_is_no_kink(run: Any) -> None:
    r = run("kinks", NewGELUActivation)
    assert r.status is Status.PASS, r.summary
    assert not [e for e in r.details["kinks"] if e["kink"]], r.summary


def test_float32_inside_wrong_backward_fails(run: Any) -> None:
    r = run("gradcheck", MishMissingTerm)
    assert r.status is Status.FAIL, r.summary
    assert finding(torch.float32) in r.findings


def test_float32_inside_kink_is_found(run: Any) -> None:
    for subject in (ShiftedReLU32, ShiftedReLU64):
        r = run("kinks", subject)
        assert r.status is Status.PASS, r.summary
        assert sorted({e["x"] for e in r.details["kinks"] if e["kink"]}) == [0.0], (subject, r.summary)
    assert run("gradcheck", ShiftedReLU32).status is Status.PASS
