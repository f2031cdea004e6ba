"""`determinism`: a stochastic forward or a drifting state fails; eval-mode modules
that are random only in training pass."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

import acts
from verify.results import Status


def noisy(x: Tensor) -> Tensor:
    """Planted bug: adds a little noise on every call."""
    return torch.relu(x) + 1e-6 * torch.rand_like(x)


class CountsCalls(nn.Module):
    """Planted bug: the output drifts with a call counter kept on the module."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        return torch.tanh(x) * (1 + 1e-9 * self.calls)


class NoisyBackward(torch.autograd.Function):
    """Planted bug: the forward is exact, the backward is not."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.sin(x)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return g * torch.cos(x) * (1 + 1e-12 * torch.rand_like(x))


def test_noise_in_forward_fails(run: Any) -> None:
    r = run("determinism", noisy)
    assert r.status is Status.FAIL, r.summary
    assert r.details["what"] == "output"


def test_state_that_drifts_fails(run: Any) -> None:
    assert run("determinism", CountsCalls()).status is Status.FAIL


def test_noise_in_backward_fails(run: Any) -> None:
    r = run("determinism", NoisyBackward)
    assert r.status is Status.FAIL, r.summary
    assert r.details["what"] == "input gradient"


def test_rrelu_in_eval_mode_passes(run: Any) -> None:
    r = run("determinism", nn.RReLU())
    assert r.status is Status.PASS, r.summary


def test_parametric_and_custom_backward_pass(run: Any) -> None:
    for obj in (nn.PReLU(num_parameters=4), acts.get("bipolar_relu")):
        r = run("determinism", obj)
        assert r.status is Status.PASS, (obj, r.summary)
