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


class InplaceMish(torch.nn.Module):
    """Mish with an ``inplace`` flag in the timm style, x * tanh(softplus(x)) written as
    ``x.mul_(...)``: softplus saved x for its backward, and the in-place multiply then
    overwrites it, so the in-place form cannot be trained."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        t = torch.nn.functional.softplus(x).tanh()
        return x.mul_(t) if self.inplace else x.mul(t)
