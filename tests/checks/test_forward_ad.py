"""`forward_ad`: a wrong jvp fails; no jvp is a skip with its reason."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from verify.results import Status


class _Tanh(torch.autograd.Function):
    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return torch.tanh(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)


class WrongJvp(_Tanh):
    """Planted bug: a jvp that forgets the derivative (returns the tangent as is)."""

    @staticmethod
    def jvp(ctx: Any, x_t: Tensor) -> Tensor:
        return x_t.clone()


class GoodJvp(_Tanh):
    @staticmethod
    def jvp(ctx: Any, x_t: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return x_t * (1 - y * y)


class NoJvp(_Tanh):
    pass


def test_wrong_jvp_fails(run: Any) -> None:
    r = run("forward_ad", WrongJvp)
    assert r.status is Status.FAIL, r.summary


def test_correct_jvp_passes(run: Any) -> None:
    assert run("forward_ad", GoodJvp).status is Status.PASS


def test_missing_jvp_is_a_skip(run: Any) -> None:
    r = run("forward_ad", NoJvp)
    assert r.status is Status.SKIP and "jvp" in r.summary


def test_composite_module_passes(run: Any) -> None:
    assert run("forward_ad", torch.nn.Mish()).status is Status.PASS


def test_failure_names_x_and_both_derivatives(run: Any) -> None:
    r = run("forward_ad", WrongJvp)
    assert r.status is Status.FAIL
    assert "at x=" in r.summary and "jvp" in r.summary and "numerical" in r.summary, r.summary
    x = r.details["x"]
    assert r.details["analytical"] == 1.0 and abs(r.details["numerical"] - (1 - math.tanh(x) ** 2)) < 1e-6
