"""verify.layout: each kind of activation written as model code writes it is given its
layout (kind, feature dimension, ranks, domain) by probing, and a stated one is taken."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from tests.fixtures import modern
from verify.layout import LayoutError, parse
from verify.targets import from_object


def layout(obj: Any) -> Any:
    return from_object(obj, name=getattr(obj, "__name__", "x"), target="test:x").layout


@pytest.mark.parametrize("obj", [modern.swiglu, modern.reglu, modern.GEGLU, modern.FusedSwiGLU, nn.GLU()])
def test_chunked_halves_are_gated_along_the_last_dimension(obj: Any) -> None:
    found = layout(obj)
    assert (found.kind, found.dim) == ("gated", -1)
    assert found.width == 2 * found.out_width and found.width % 2 == 0


def test_a_gated_output_bound_to_a_parameter_takes_twice_its_width() -> None:
    found = layout(modern.GLUWithBias)
    assert (found.kind, found.width, found.out_width) == ("gated", 8, 4)


def test_a_feature_last_module_that_insists_on_rank_3() -> None:
    found = layout(modern.DyT)
    assert (found.kind, found.dim, found.width, found.ranks) == ("elementwise", -1, 6, (3,))
    subject = from_object(modern.DyT, name="t", target="test:t")
    # The checks see the features at dimension 1; the module gets them last.
    assert subject.base_shape[1] == 6
    x = torch.randn(subject.base_shape, dtype=torch.float64)
    module = modern.DyT().double()
    torch.testing.assert_close(subject.instance()(x), module(x.movedim(1, -1)).movedim(-1, 1))


@pytest.mark.parametrize("obj", [modern.softmax_fn, modern.sparsemax, modern.norm_softmax, modern.maxout,
                                 nn.Softmax(dim=-1), nn.LogSoftmax(dim=1)])
def test_vector_valued(obj: Any) -> None:
    assert layout(obj).kind == "vector"


def test_softmax_along_dimension_1_keeps_its_dimension() -> None:
    assert layout(nn.Softmax(dim=1)).dim == 1 and layout(nn.Softmax(dim=-1)).dim == -1


def test_mixing_across_the_batch() -> None:
    assert layout(lambda x: torch.relu(x - x.mean())).kind == "mixing"


@pytest.mark.parametrize("obj", [torch.relu, nn.PReLU(4), nn.SiLU(), torch.tanh])
def test_elementwise_at_dimension_1(obj: Any) -> None:
    found = layout(obj)
    assert (found.kind, found.dim) == ("elementwise", 1) and found.domain == (-math.inf, math.inf)


def test_domain_of_a_square_root() -> None:
    assert layout(modern.clipped_sqrt).domain == (0.0, math.inf)
    assert layout(lambda x: torch.log(-x)).domain == (-math.inf, 0.0)


def test_a_stated_layout_is_taken() -> None:
    def mean_centred(x: Tensor) -> Tensor:
        return torch.relu(x - x.mean(dim=-1, keepdim=True))

    mean_centred.verify_layout = "mixing"  # type: ignore[attr-defined]
    found = layout(mean_centred)
    assert found.kind == "mixing" and found.stated


def test_a_stated_layout_that_does_not_hold_is_refused() -> None:
    subject = from_object(torch.relu, name="relu", target="test:relu")
    subject.layout_hint = "gated:-1"
    with pytest.raises(LayoutError, match="behaves as elementwise, not gated"):
        subject.layout  # noqa: B018


@pytest.mark.parametrize("text", ["", "gate", "gated:2", "gated:-1:7", "vector:1:x", "a:b:c:d"])
def test_malformed_layouts(text: str) -> None:
    with pytest.raises(LayoutError):
        parse(text)
