"""`gradgradcheck`: a backward built from detached tensors fails; once_differentiable
is a skip; a differentiable hand-written backward passes."""

from __future__ import annotations

import math
from typing import Any

import pytest
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


class ListSoftsign(torch.nn.Module):
    """Planted bug: softsign computed through Python floats (a port from a scalar
    implementation), so the output is a new tensor cut from the input's graph."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.tensor((x / (1 + x.abs())).tolist(), dtype=x.dtype, device=x.device)


class DetachedMish(torch.nn.Module):
    """Planted bug: mish whose result is detached 'to save memory'."""

    def forward(self, x: Tensor) -> Tensor:
        return (x * torch.tanh(torch.nn.functional.softplus(x))).detach()


@pytest.mark.parametrize("check_id", ["gradcheck", "gradgradcheck", "forward_ad"])
@pytest.mark.parametrize("subject", [ListSoftsign, DetachedMish])
def test_an_output_cut_from_the_graph_fails_every_gradient_check(run: Any, check_id: str, subject: Any) -> None:
    r = run(check_id, subject())
    assert r.status is Status.FAIL, r.summary
    assert r.summary == ("no gradient flows: the output is cut from the input's graph (it does not require grad) "
                         "(default parameters)")
    assert r.smallest_input is not None


class Threshold(torch.nn.Module):
    """Correct but unusual: a hard threshold, constant away from 0, whose output never
    requires grad (nothing to differentiate; torch's gradgradcheck cannot even be called)."""

    def forward(self, x: Tensor) -> Tensor:
        return (x > 0).to(x.dtype)


@pytest.mark.parametrize("check_id", ["gradcheck", "gradgradcheck", "forward_ad"])
def test_an_output_without_a_graph_that_is_constant_passes(run: Any, check_id: str) -> None:
    r = run(check_id, Threshold())
    assert r.status is Status.PASS, r.summary


class SavedSigmoidSoftplus(torch.autograd.Function):
    """Planted bug: softplus whose backward multiplies by sigmoid(x) computed in the
    forward and saved: a constant to autograd, so the second derivative comes out 0."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(torch.sigmoid(x))
        return torch.nn.functional.softplus(x)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (s,) = ctx.saved_tensors
        return g * s


def test_a_saved_intermediate_in_the_backward_names_the_cause_and_both_fixes(run: Any) -> None:
    r = run("gradgradcheck", SavedSigmoidSoftplus)
    assert r.status is Status.FAIL, r.summary
    assert r.details["analytical"] == 0.0 and r.details["numerical"] != 0.0
    assert "a forward intermediate saved with ctx.save_for_backward" in r.summary, r.summary
    assert "recompute it in the backward from the saved inputs" in r.summary
    assert "@once_differentiable" in r.summary


def narrow_piece(x: torch.Tensor) -> torch.Tensor:
    """Correct where it is differentiable: a piece 1e-6 wide beside 0, lifted by 8e-7,
    narrower than a difference step."""
    return torch.where((x > 0) & (x < 1e-6), x + 8e-7, x)


def test_a_piece_narrower_than_the_step_is_reported_not_blamed(run: Any) -> None:
    for check_id in ("gradcheck", "forward_ad"):
        r = run(check_id, narrow_piece)
        assert r.status is Status.PASS, r.summary
        assert any("jumps by" in f and "x = 0" in f for f in r.findings), r.findings


@pytest.mark.parametrize("check_id", ["reference", "propagation"])
def test_a_cut_output_is_no_error_elsewhere(run: Any, check_id: str) -> None:
    """The gradient checks own the cut; the others judge what they can, or skip, saying why."""
    r = run(check_id, ListSoftsign)
    assert r.status in (Status.PASS, Status.SKIP), r.summary
    if check_id == "propagation":
        assert "cut from the input's graph" in r.summary, r.summary
