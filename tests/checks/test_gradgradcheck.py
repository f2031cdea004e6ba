"""`gradgradcheck`: a backward built from detached tensors fails; once_differentiable
is a skip; a differentiable hand-written backward passes."""

from __future__ import annotations

import math
from typing import Any

import torch
import zoo
from torch import Tensor
from torch.autograd.function import once_differentiable

from verify.analysis.kinkscan import kinks, second_order_kinks
from verify.results import Status
from verify.targets import from_object


class DetachedBackward(torch.autograd.Function):
    """Planted bug: tanh whose backward reads its saved output through .detach(), so
    the second derivative silently comes out as zero."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return g * (1 - y.detach() ** 2)


class NoGradBackward(torch.autograd.Function):
    """Planted bug: the backward computed under no_grad (the result cannot be
    differentiated at all)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.sin(x)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        with torch.no_grad():
            return g * torch.cos(x)


class OnceTanh(torch.autograd.Function):
    """Correct but unusual: a backward marked once_differentiable on purpose."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)


class GoodTanh(OnceTanh):
    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)


def test_detached_backward_fails(run: Any) -> None:
    r = run("gradgradcheck", DetachedBackward)
    assert r.status is Status.FAIL, r.summary


def test_no_grad_backward_fails(run: Any) -> None:
    r = run("gradgradcheck", NoGradBackward)
    assert r.status is Status.FAIL, r.summary


def test_once_differentiable_is_a_skip(run: Any) -> None:
    r = run("gradgradcheck", OnceTanh)
    assert r.status is Status.SKIP and "once_differentiable" in r.summary


def test_differentiable_backward_passes(run: Any) -> None:
    assert run("gradgradcheck", GoodTanh).status is Status.PASS


def test_c1_builtin_passes(run: Any) -> None:
    """ELU(alpha=1) is C1, not C2: the second derivative jumps at 0, and the sampler
    must keep finite differences of the backward from straddling it."""
    assert run("gradgradcheck", torch.nn.ELU()).status is Status.PASS


def test_failure_names_x_and_both_second_derivatives(run: Any) -> None:
    r = run("gradgradcheck", DetachedBackward)
    assert r.status is Status.FAIL
    assert "at x=" in r.summary and "autograd f''" in r.summary and "numerical" in r.summary, r.summary
    # The detached backward's second derivative is 0; tanh'' = -2 tanh (1 - tanh^2) is not.
    x = r.details["x"]
    assert r.details["analytical"] == 0.0
    assert abs(r.details["numerical"] - (-2 * math.tanh(x) * (1 - math.tanh(x) ** 2))) < 1e-6


def test_correct_second_derivative_near_a_kink_of_the_first_passes(run: Any) -> None:
    """x / (1 + |x|): f' = 1 / (1 + |x|)^2 has a kink at 0, where a finite difference of
    the backward straddles it (at x = 7.9e-18 it gives 0 against autograd's exact f''
    = -2 sign(x) / (1 + |x|)^3). The draws keep off kinks of f'."""
    r = run("gradgradcheck", zoo.RationalSoftsign, profile="thorough")
    assert r.status is Status.PASS, r.summary
    subject = from_object(zoo.RationalSoftsign, name="RationalSoftsign", target="t")
    assert kinks(subject) == [] and second_order_kinks(subject) == [0.0]
