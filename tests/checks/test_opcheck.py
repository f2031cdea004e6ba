"""`opcheck`: custom operators with a wrong registration fail, naming the operator and
the sub-test; correct ones pass; a subject without a custom operator skips.

The operators are written the way kernel libraries write them. torch.library
registrations are global in a process, so every name lives in this module's own
namespaces.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from verify.results import Status

if not hasattr(torch.library, "custom_op"):
    pytest.skip(f"torch.library.custom_op needs torch >= 2.4 (this is torch {torch.__version__})",
                allow_module_level=True)

NS = "verify_test_opcheck"


def _silu_grad(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))


def _save_input(ctx: Any, inputs: tuple[Tensor, ...], output: Tensor) -> None:
    ctx.save_for_backward(inputs[0])


def _silu_backward(ctx: Any, grad: Tensor) -> Tensor:
    (x,) = ctx.saved_tensors
    return grad * _silu_grad(x)


# -- correct: a fused SiLU with a fake kernel and an autograd formula ---------------
@torch.library.custom_op(f"{NS}::silu", mutates_args=())
def fused_silu(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


@fused_silu.register_fake
def _(x: Tensor) -> Tensor:
    return torch.empty_like(x)


fused_silu.register_autograd(_silu_backward, setup_context=_save_input)


# -- correct: forward and backward kernels, both operators --------------------------
@torch.library.custom_op(f"{NS}::silu_bwd", mutates_args=())
def silu_bwd_kernel(grad: Tensor, x: Tensor) -> Tensor:
    return grad * _silu_grad(x)


@silu_bwd_kernel.register_fake
def _(grad: Tensor, x: Tensor) -> Tensor:
    return torch.empty_like(x)


@torch.library.custom_op(f"{NS}::silu_fwd", mutates_args=())
def silu_fwd_kernel(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


@silu_fwd_kernel.register_fake
def _(x: Tensor) -> Tensor:
    return torch.empty_like(x)


def _silu_backward_kernel(ctx: Any, grad: Tensor) -> Tensor:
    (x,) = ctx.saved_tensors
    return silu_bwd_kernel(grad, x)


silu_fwd_kernel.register_autograd(_silu_backward_kernel, setup_context=_save_input)


# -- planted: the fake kernel returns the flat buffer the kernel writes -------------
@torch.library.custom_op(f"{NS}::gelu_flat_fake", mutates_args=())
def gelu_tanh(x: Tensor) -> Tensor:
    out = torch.empty(x.numel(), dtype=x.dtype, device=x.device)
    out.copy_(torch.nn.functional.gelu(x, approximate="tanh").reshape(-1))
    return out.view_as(x)


@gelu_tanh.register_fake
def _(x: Tensor) -> Tensor:
    return x.new_empty(x.numel())


def _gelu_tanh_backward(ctx: Any, grad: Tensor) -> Tensor:
    (x,) = ctx.saved_tensors
    with torch.enable_grad():
        t = x.detach().requires_grad_()
        (g,) = torch.autograd.grad(torch.nn.functional.gelu(t, approximate="tanh"), t, grad)
    return g


gelu_tanh.register_autograd(_gelu_tanh_backward, setup_context=_save_input)


# -- planted: the kernel scales its input in place, undeclared ----------------------
@torch.library.custom_op(f"{NS}::swish_scratch", mutates_args=())
def swish_scratch(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    x.mul_(s)  # reuses the input as the output buffer to save an allocation
    return x.clone()


@swish_scratch.register_fake
def _(x: Tensor) -> Tensor:
    return torch.empty_like(x)


swish_scratch.register_autograd(_silu_backward, setup_context=_save_input)


# -- the older Library form ---------------------------------------------------------
_lib = torch.library.Library(f"{NS}_lib", "DEF")
_lib.define("mish(Tensor x) -> Tensor")
_lib.define("mish_nofake(Tensor x) -> Tensor")


def _mish_cpu(x: Tensor) -> Tensor:
    return x * torch.tanh(torch.nn.functional.softplus(x))


_lib.impl("mish", _mish_cpu, "CPU")
_lib.impl("mish_nofake", _mish_cpu, "CPU")


@torch.library.register_fake(f"{NS}_lib::mish")
def _(x: Tensor) -> Tensor:
    return torch.empty_like(x)


class Mish(nn.Module):
    """Planted: calls the CPU kernel directly under autograd; no autograd registration."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.ops.verify_test_opcheck_lib.mish(x)


class MishFunction(torch.autograd.Function):
    """Correct: the gradient comes from this Function; the operator runs in its forward
    only (grad off), as flash-attn wraps its kernels."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.ops.verify_test_opcheck_lib.mish(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        sp = torch.nn.functional.softplus(x)
        t = torch.tanh(sp)
        return grad * (t + x * (1 - t * t) * torch.sigmoid(x))


class MishNoFake(torch.autograd.Function):
    """Planted: the operator has no fake kernel at all."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.ops.verify_test_opcheck_lib.mish_nofake(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return MishFunction.backward(ctx, grad)


def _failed_tests(r: Any) -> dict[str, str]:
    return {test: msg for call in r.details["calls"] for test, msg in call["failures"].items()}


def test_fake_kernel_with_the_wrong_shape_fails(run: Any) -> None:
    r = run("opcheck", gelu_tanh)
    assert r.status is Status.FAIL, r.summary
    assert f"{NS}::gelu_flat_fake" in r.summary and "test_faketensor" in r.summary
    assert "Shapes" in _failed_tests(r)["test_faketensor"]


def test_undeclared_mutation_fails(run: Any) -> None:
    r = run("opcheck", swish_scratch)
    assert r.status is Status.FAIL, r.summary
    assert f"{NS}::swish_scratch" in r.summary and "test_schema" in r.summary
    assert "mutated" in _failed_tests(r)["test_schema"]


def test_operator_without_autograd_used_under_autograd_fails(run: Any) -> None:
    r = run("opcheck", Mish())
    assert r.status is Status.FAIL, r.summary
    assert f"{NS}_lib::mish" in r.summary and "test_autograd_registration" in r.summary
    assert "requiring grad" in r.summary


def test_operator_without_fake_kernel_fails(run: Any) -> None:
    r = run("opcheck", MishNoFake)
    assert r.status is Status.FAIL, r.summary
    assert "test_faketensor" in _failed_tests(r)
    assert "test_autograd_registration" not in _failed_tests(r)


def test_correct_custom_op_passes(run: Any) -> None:
    r = run("opcheck", fused_silu)
    assert r.status is Status.PASS, r.summary
    assert r.details["operators"] == [f"{NS}::silu"]
    # float64 and float32, each requiring grad
    assert sorted(c["inputs"] for c in r.details["calls"]) == ["float32 (2, 4, 3) requiring grad",
                                                              "float64 (2, 4, 3) requiring grad"]


def test_backward_kernel_is_found_and_checked(run: Any) -> None:
    r = run("opcheck", silu_fwd_kernel)
    assert r.status is Status.PASS, r.summary
    assert r.details["operators"] == [f"{NS}::silu_bwd", f"{NS}::silu_fwd"]


def test_operator_inside_a_function_is_not_asked_for_its_own_gradient(run: Any) -> None:
    r = run("opcheck", MishFunction)
    assert r.status is Status.PASS, r.summary
    assert all("requiring grad" not in c["inputs"] for c in r.details["calls"])


def test_plain_function_skips(run: Any) -> None:
    r = run("opcheck", lambda x: x * torch.sigmoid(x), name="plain_silu")
    assert r.status is Status.SKIP
    assert r.summary == "the subject calls no torch.library custom operator"


def test_exception_inside_subject_is_an_error(run: Any) -> None:
    def broken(x: Tensor) -> Tensor:
        raise RuntimeError("boom")

    assert run("opcheck", broken).status is Status.ERROR


def test_torch_without_opcheck_skips(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(torch.library, "opcheck")
    r = run("opcheck", fused_silu)
    assert r.status is Status.SKIP and "torch >= 2.4" in r.summary
