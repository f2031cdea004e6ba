"""Activations more than one check's tests use."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class MidpointReLU(torch.autograd.Function):
    """Correct but unusual: ReLU'(0) = 1/2, the midpoint of the subdifferential (a valid
    subgradient, not PyTorch's convention). Away from the kink it is exact."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return g * ((x > 0).to(g.dtype) + 0.5 * (x == 0).to(g.dtype))
