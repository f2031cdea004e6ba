"""`preserves`: an activation that changes dtype, shape or layout fails; unusual but
correct ones pass."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import zoo
from torch import Tensor, nn

import acts
from verify.results import Status


def upcasts_to_float32(x: Tensor) -> Tensor:
    """Planted bug: computes in float32 and forgets to cast back."""
    return torch.relu(x.float())


def squeezes(x: Tensor) -> Tensor:
    """Planted bug: drops every dimension of size one (a batch of one loses its batch)."""
    return torch.relu(x).squeeze()


def views_flat(x: Tensor) -> Tensor:
    """Planted bug: .view needs a contiguous input, so a transposed or channels-last
    input raises."""
    return torch.relu(x.view(-1)).view(x.shape)


def garbles_channels_last(x: Tensor) -> Tensor:
    """Planted bug: reinterprets the storage as if it were contiguous, scrambling a
    channels-last or transposed input silently."""
    flat = torch.as_strided(x, (x.numel(),), (1,))
    return torch.relu(flat).reshape(x.shape)


class Float32Backward(torch.autograd.Function):
    """Planted bug: tanh whose backward computes in float32; autograd casts the gradient
    back to float64 without a word, so only its precision shows."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.tanh(x)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        t = torch.tanh(x.float())
        return g.float() * (1 - t * t)


def test_float32_output_for_float64_input_fails(run: Any) -> None:
    r = run("preserves", upcasts_to_float32)
    assert r.status is Status.FAIL, r.summary
    assert "dtype" in r.summary and r.details["dtype"] == "float64"


def test_dropped_dimension_fails(run: Any) -> None:
    r = run("preserves", squeezes)
    assert r.status is Status.FAIL, r.summary
    assert "shape" in r.summary and r.details["layout" if "layout" in r.details else "dtype"]


def test_view_on_non_contiguous_fails(run: Any) -> None:
    r = run("preserves", views_flat)
    assert r.status is Status.FAIL, r.summary
    assert r.details["layout"] in ("non-contiguous", "channels-last")
    assert r.smallest_input is not None


def test_scrambled_layout_fails(run: Any) -> None:
    r = run("preserves", garbles_channels_last)
    assert r.status is Status.FAIL, r.summary
    assert "differs from the contiguous call" in r.summary


def test_gradient_in_a_narrower_dtype_fails(run: Any) -> None:
    r = run("preserves", Float32Backward)
    assert r.status is Status.FAIL, r.summary
    assert r.details["gradient_precision"] == "float32"


def test_per_channel_module_skips_0d_with_a_note(run: Any) -> None:
    r = run("preserves", nn.PReLU(num_parameters=6))
    assert r.status is Status.PASS, r.summary
    assert "0-d" in r.details["not_tested"] and "0-d" not in r.details["layouts"]
    assert "channels-last" in r.details["layouts"]


def test_channelwise_spec_and_in_place_module_pass(run: Any) -> None:
    for obj in (acts.get("bipolar_relu"), nn.ReLU(inplace=True), nn.GELU("tanh")):
        r = run("preserves", obj)
        assert r.status is Status.PASS, (obj, r.summary)
        assert {"0-d", "empty", "non-contiguous", "channels-last"} <= set(r.details["layouts"])


@pytest.mark.parametrize(("factory", "shape"), [(zoo.acon_c, (1, 6, 1, 1)), (zoo.Snake, (1, 5, 1))])
def test_channel_bound_module_passes_with_its_broadcast_as_a_finding(run: Any, factory: Any, shape: tuple) -> None:
    r = run("preserves", factory)
    assert r.status is Status.PASS, r.summary
    assert any(f"output of shape {shape}" in f for f in r.findings), r.findings
    assert "broadcasts it" in r.details["not_tested"]["0-d"]


def test_rank_bound_module_is_not_given_other_ranks(run: Any) -> None:
    r = run("preserves", zoo.Snake)
    assert "channels-last" in r.details["not_tested"] and "rank 3" in r.details["not_tested"]["4-d"]
    assert {"non-contiguous", "batch of one", "empty"} <= set(r.details["layouts"])
    r = run("preserves", zoo.acon_c)
    assert "channels-last" in r.details["layouts"], r.details


def test_channel_bound_module_that_views_fails(run: Any) -> None:
    r = run("preserves", zoo.acon_c_flat_view)
    assert r.status is Status.FAIL, r.summary
    assert r.details["layout"] in ("empty", "non-contiguous", "channels-last") and "layout_input" in r.details
