"""`elementwise`: outputs that depend on other positions fail; per-channel and
channelwise activations pass."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor, nn

import acts
from verify.results import Status


def batch_norm_like(x: Tensor) -> Tensor:
    """Planted bug: centres on the mean of the whole input."""
    return torch.relu(x - x.mean())


def softmax_like(x: Tensor) -> Tensor:
    """Correct: a vector-valued activation, normalised along the last dimension."""
    e = torch.exp(x)
    return e / e.sum(dim=-1, keepdim=True)


def softmax_over_batch(x: Tensor) -> Tensor:
    """Planted bug: the softmax's sum runs over the batch and the features at once."""
    e = torch.exp(x)
    return e / e.sum(dim=(0, -1), keepdim=True)


def position_scaled(x: Tensor) -> Tensor:
    """Planted bug: local, but a different function at every position."""
    return x * torch.arange(x.numel(), dtype=x.dtype).reshape(x.shape)


def bipolar(x: Tensor) -> Tensor:
    """Correct but unusual, with no spec: ReLU on even channels, its mirror on odd."""
    even = (torch.arange(x.shape[1]) % 2 == 0).reshape(-1, *([1] * (x.dim() - 2)))
    return torch.where(even, torch.relu(x), -torch.relu(-x))


def channel_mixing_lie() -> acts.Activation:
    """Planted bug: a spec that declares an ordinary elementwise function (neither
    channelwise nor per-channel) whose function differs between channels."""
    return dataclasses.replace(acts.get("bipolar_relu"), name="bipolar_undeclared", channelwise=False)


def test_mean_dependence_fails(run: Any) -> None:
    r = run("elementwise", batch_norm_like)
    assert r.status is Status.FAIL, r.summary
    assert r.details["property"] == "locality" and r.smallest_input is not None


def test_softmax_passes_as_vector_valued(run: Any) -> None:
    r = run("elementwise", softmax_like)
    assert r.status is Status.PASS, r.summary
    assert r.details["kind"] == "vector" and "its own vector" in r.summary


def test_softmax_over_the_batch_fails(run: Any) -> None:
    r = run("elementwise", softmax_over_batch)
    assert r.status is Status.FAIL, r.summary
    assert r.details["property"] == "locality" and "--layout mixing" in r.summary


def test_position_dependence_fails(run: Any) -> None:
    r = run("elementwise", position_scaled)
    assert r.status is Status.FAIL, r.summary
    assert r.details["property"] in ("batch slicing", "permutation of the batch")


def test_undeclared_channel_dependence_fails(run: Any) -> None:
    r = run("elementwise", channel_mixing_lie())
    assert r.status is Status.FAIL, r.summary
    assert r.details["property"] == "permutation of every position"


def test_per_channel_prelu_passes(run: Any) -> None:
    r = run("elementwise", nn.PReLU(num_parameters=6))
    assert r.status is Status.PASS, r.summary
    assert r.details["channelwise"] == "per-channel parameters"


def test_bipolar_passes_declared_or_inferred(run: Any) -> None:
    r = run("elementwise", acts.get("bipolar_relu"))
    assert r.status is Status.PASS and r.details["channelwise"] == "declared", r.summary
    r = run("elementwise", bipolar)
    assert r.status is Status.PASS and r.details["channelwise"] == "inferred", r.summary


def test_in_place_module_passes(run: Any) -> None:
    assert run("elementwise", nn.ReLU(inplace=True)).status is Status.PASS


def test_declared_non_elementwise_is_skipped(run: Any) -> None:
    r = run("elementwise", dataclasses.replace(acts.get("relu"), name="relu_marked", elementwise=False))
    assert r.status is Status.SKIP and "elementwise=False" in r.summary
