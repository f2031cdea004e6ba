"""`gradcheck`: a wrong backward fails; a correct unusual one passes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import zoo
from _subjects import MidpointReLU
from torch import Tensor, nn

from verify.results import Status


class WrongScaleBackward(torch.autograd.Function):
    """Planted bug: tanh whose backward forgets the square (1 - y instead of 1 - y^2)."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return torch.tanh(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return g * (1 - y)


class ReLUTutorialBug(torch.autograd.Function):
    """Planted bug from the tutorials: the mask uses the wrong side (x > 0 zeroed)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        grad = g.clone()
        grad[x > 0] = 0
        return grad



def test_wrong_backward_fails(run: Any) -> None:
    r = run("gradcheck", WrongScaleBackward)
    assert r.status is Status.FAIL, r.summary
    assert r.smallest_input is not None and r.repro and "--only gradcheck" in r.repro


def test_tutorial_mask_bug_fails(run: Any) -> None:
    assert run("gradcheck", ReLUTutorialBug).status is Status.FAIL


def test_valid_subgradient_convention_passes(run: Any) -> None:
    r = run("gradcheck", MidpointReLU)
    assert r.status is Status.PASS, r.summary


def test_per_channel_module_passes(run: Any) -> None:
    assert run("gradcheck", nn.PReLU(num_parameters=5)).status is Status.PASS


def test_exception_inside_subject_is_an_error(run: Any) -> None:
    def broken(x: Tensor) -> Tensor:
        raise RuntimeError("boom")

    assert run("gradcheck", broken).status is Status.ERROR


def test_always_in_place_function_has_its_gradient_judged(run: Any) -> None:
    assert run("gradcheck", zoo.LeakyReLUInplaceFunction).status is Status.PASS
    r = run("gradcheck", zoo.NegativeSlopeInplaceFunction)
    assert r.status is Status.FAIL, r.summary
    assert r.details["x"] < 0 and r.details["analytical"] == 1.0 and abs(r.details["numerical"] + 0.2) < 1e-6


def test_function_writing_into_its_input_unmarked_has_its_gradient_judged(run: Any) -> None:
    assert run("gradcheck", zoo.ClampWithoutMarkDirty).status is Status.PASS


def test_backward_wrong_only_for_large_inputs_fails(run: Any) -> None:
    r = run("gradcheck", zoo.PenalizedTanhFunction)
    assert r.status is Status.FAIL, r.summary
    assert r.details["region"] == "far from 0" and abs(r.details["x"]) > 8
    assert r.details["analytical"] == 0.0 and abs(r.details["numerical"] - 0.1) < 1e-6
    assert r.details["step"] == pytest.approx(1e-6 * abs(r.details["x"]))


def test_far_range_follows_the_required_range(run: Any) -> None:
    """Inside |x| <= 8 the planted backward is exact: a required range that stops there
    leaves nothing to find."""
    r = run("gradcheck", zoo.PenalizedTanhFunction, options={"stability": {"required_range": 8.0}})
    assert r.status is Status.PASS, r.summary
    assert r.details["far_range"] == 8.0


def _tiny_jump(x: Tensor) -> Tensor:
    """A forward with an undeclared jump of 2e-7 at 0 (a threshold switch between two
    formulas that do not quite meet) and a right backward everywhere else."""
    return torch.where(x > 0, x + 2e-7, x)


def test_a_jump_of_the_forward_is_not_blamed_on_the_backward(run: Any) -> None:
    from acts import Activation, Kind, Properties

    class Wrap(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return _tiny_jump(x)

    spec = Activation(name="tiny_jump", kind=Kind.FORMULA, formula="x + 2e-7 [x > 0]", source="test",
                      module=lambda **kw: Wrap(), functional=_tiny_jump, reference=_tiny_jump,
                      properties=Properties(limits=(-math.inf, math.inf)))
    r = run("gradcheck", spec, profile="ci")
    assert r.status is Status.PASS, r.summary
    assert any("the forward jumps by 2e-07" in f and "x = 0" in f for f in r.findings), r.findings


def test_a_failure_carries_the_smallest_input_the_layout_takes(run: Any) -> None:
    from tests.fixtures.wrong_cube import Cube

    r = run("gradcheck", Cube)
    assert r.status is Status.FAIL, r.summary
    # One sample, one position per channel: hypothesis shrinks values, not the shape.
    assert np.asarray(r.smallest_input).shape == (1, 4, 1), r.smallest_input
