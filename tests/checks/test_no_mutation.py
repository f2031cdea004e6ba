"""`no_mutation`: an activation that writes into its input or into the incoming
gradient fails; in-place modules are judged by their out-of-place form."""

from __future__ import annotations

from typing import Any

import torch
import zoo
from torch import Tensor, nn

import acts
from verify.results import Status


def relu_in_place_inside(x: Tensor) -> Tensor:
    """Planted bug: an 'out-of-place' function that calls relu_ on its input."""
    return x.relu_()


def clamps_then_copies(x: Tensor) -> Tensor:
    """Planted bug: returns a new tensor but clips the caller's input on the way."""
    y = torch.tanh(x)
    x.clamp_(-1, 1)
    return y


def rewrites_same_values(x: Tensor) -> Tensor:
    """Planted bug: an in-place write that keeps the values; only the version counter
    shows it (and autograd would then refuse a backward that saved x)."""
    x.mul_(1.0)
    return torch.tanh(x)


class WritesIntoGradOutput(torch.autograd.Function):
    """Planted bug: the tutorial ReLU backward without the clone, zeroing grad_output
    in place (autograd may hand the same tensor to other nodes)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        g[x < 0] = 0
        return g


def test_relu_in_place_inside_fails(run: Any) -> None:
    r = run("no_mutation", relu_in_place_inside)
    assert r.status is Status.FAIL, r.summary
    assert r.details["what"] == "input" and "forward" in r.details["when"]


def test_value_change_is_reported(run: Any) -> None:
    r = run("no_mutation", clamps_then_copies)
    assert r.status is Status.FAIL, r.summary
    assert r.details["changed_elements"] > 0 and "became" in r.summary


def test_version_bump_alone_fails(run: Any) -> None:
    r = run("no_mutation", rewrites_same_values)
    assert r.status is Status.FAIL, r.summary
    assert "version counter" in r.summary


def test_backward_writing_grad_output_fails(run: Any) -> None:
    r = run("no_mutation", WritesIntoGradOutput)
    assert r.status is Status.FAIL, r.summary
    assert r.details["when"] == "the backward" and r.details["what"] == "incoming gradient"


def test_out_of_place_forms_pass(run: Any) -> None:
    for obj in (acts.get("bipolar_relu"), acts.get("relu"), nn.PReLU(num_parameters=4)):
        r = run("no_mutation", obj)
        assert r.status is Status.PASS, (obj, r.summary)


def test_in_place_module_is_judged_out_of_place(run: Any) -> None:
    r = run("no_mutation", nn.ReLU(inplace=True))
    assert r.status is Status.PASS, r.summary
    from verify.targets import from_object

    subject = from_object(nn.ReLU(inplace=True), name="ReLU", target="torch.nn:ReLU")
    assert subject.instance().inplace is False and subject.instance(inplace=True).inplace is True
    assert any("inplace=True" in n for n in subject.notes)


def test_always_in_place_function_is_skipped_as_an_in_place_subject(run: Any) -> None:
    r = run("no_mutation", zoo.LeakyReLUInplaceFunction)
    assert r.status is Status.SKIP and "marks it dirty" in r.summary, r.summary


def test_writing_into_the_input_without_mark_dirty_fails(run: Any) -> None:
    r = run("no_mutation", zoo.ClampWithoutMarkDirty)
    assert r.status is Status.FAIL and "wrote into its input" in r.summary, r.summary
