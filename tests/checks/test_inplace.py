"""`inplace`: in-place variants that allocate, bypass autograd or corrupt their saved
tensors fail; torch's and the reference in-place activations pass."""

from __future__ import annotations

from typing import Any

import torch
import zoo
from _subjects import InplaceMish
from torch import Tensor, nn

import acts
from verify.results import Status


class _Flagged(nn.Module):
    """A module with an ``inplace`` flag, as torch's activations have."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace


class ClaimsInPlace(_Flagged):
    """Planted bug: the flag is ignored; a new tensor comes back either way."""

    def forward(self, x: Tensor) -> Tensor:
        return x.clamp(min=0)


class SigmoidSavesInput(torch.autograd.Function):
    """Planted bug: saves its input for the backward and then overwrites it, so the
    backward evaluates the derivative at sigmoid(x) instead of x."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        x.sigmoid_()
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return g * s * (1 - s)


class SavedInputOverwritten(_Flagged):
    def forward(self, x: Tensor) -> Tensor:
        return SigmoidSavesInput.apply(x) if self.inplace else torch.sigmoid(x)


class CopiesBack(_Flagged):
    """Planted bug: SiLU computed out of place and copied into the input, which the
    multiplication saved: autograd's version check trips in the backward."""

    def forward(self, x: Tensor) -> Tensor:
        y = x * torch.sigmoid(x)
        return x.copy_(y) if self.inplace else y


class WritesUnderNoGrad(_Flagged):
    """Planted bug: writes under no_grad, so autograd neither refuses a leaf nor sees
    the change."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.inplace:
            return torch.relu(x)
        with torch.no_grad():
            x.clamp_(min=0)
        return x


class ContiguousCopy(_Flagged):
    """Planted bug: works in place on a contiguous copy, so a transposed input is left
    as it was and a new tensor comes back."""

    def forward(self, x: Tensor) -> Tensor:
        return x.contiguous().relu_() if self.inplace else torch.relu(x)


def test_new_allocation_fails(run: Any) -> None:
    r = run("inplace", ClaimsInPlace())
    assert r.status is Status.FAIL, r.summary
    assert "not in place" in r.summary and r.details["same_storage"] is False


def test_saved_input_overwritten_fails(run: Any) -> None:
    r = run("inplace", SavedInputOverwritten())
    assert r.status is Status.FAIL, r.summary
    assert r.details["what"] == "input gradient" and r.smallest_input is not None


def test_modified_by_an_inplace_operation_fails(run: Any) -> None:
    r = run("inplace", CopiesBack())
    assert r.status is Status.FAIL, r.summary
    assert "modified by an inplace operation" in r.summary


def test_silent_write_into_a_leaf_fails(run: Any) -> None:
    r = run("inplace", WritesUnderNoGrad())
    assert r.status is Status.FAIL, r.summary
    assert "leaf" in r.summary


def test_contiguous_copy_fails_on_a_transposed_input(run: Any) -> None:
    r = run("inplace", ContiguousCopy())
    assert r.status is Status.FAIL, r.summary
    assert r.details["layout"] == "non-contiguous"


def test_torch_in_place_modules_pass(run: Any) -> None:
    for module in (nn.ReLU(inplace=True), nn.ELU(inplace=True), nn.SELU(inplace=True), nn.Hardswish()):
        r = run("inplace", module)
        assert r.status is Status.PASS, (module, r.summary)
        assert "leaf Variable" in r.details["leaf_error"]


def test_reference_function_with_mark_dirty_passes(run: Any) -> None:
    r = run("inplace", acts.get("bipolar_relu"))
    assert r.status is Status.PASS, r.summary


def test_no_in_place_variant_is_skipped(run: Any) -> None:
    r = run("inplace", nn.GELU())
    assert r.status is Status.SKIP and "no in-place variant" in r.summary


def test_always_in_place_function_is_an_in_place_subject(run: Any) -> None:
    r = run("inplace", zoo.LeakyReLUInplaceFunction)
    assert r.status is Status.PASS, r.summary
    assert r.details["always_inplace"] is True and "leaf Variable" in r.details["leaf_error"]
    assert r.summary.startswith("always in place")


def test_declined_in_place_mode_is_skipped_with_its_reason(run: Any) -> None:
    r = run("inplace", zoo.GaussianActivation)
    assert r.status is Status.SKIP, r.summary
    assert "GaussianActivation does not support in-place operations." in r.summary


def test_accepted_and_ignored_flag_still_fails(run: Any) -> None:
    r = run("inplace", zoo.SwishIgnoresInplace)
    assert r.status is Status.FAIL and "not in place" in r.summary, r.summary


def test_an_inplace_attribute_the_constructor_does_not_take_offers_no_in_place_form(run: Any) -> None:
    r = run("inplace", zoo.ScaledSoftsign)
    assert r.status is Status.SKIP and "no in-place variant" in r.summary, r.summary
    assert run("memory", zoo.ScaledSoftsign).status is Status.PASS


def scaled_softsign_2() -> nn.Module:
    """A factory, as zoos write them for classes that need arguments."""
    return zoo.ScaledSoftsign(2.0)


def test_a_factory_made_module_without_an_inplace_argument_offers_no_in_place_form(run: Any) -> None:
    r = run("inplace", scaled_softsign_2)
    assert r.status is Status.SKIP and "no in-place variant" in r.summary, r.summary


def test_an_in_place_write_over_a_saved_tensor_fails_naming_the_cause(run: Any) -> None:
    r = run("inplace", InplaceMish())
    assert r.status is Status.FAIL, r.summary
    assert "the in-place write overwrites a tensor autograd saved for the backward" in r.summary, r.summary
    assert "modified by an inplace operation" in r.summary
