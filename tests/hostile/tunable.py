"""A hand-written backward that is right only at the default slope: it forgets to
scale the negative side by ``alpha``."""

import torch
from torch import nn


class _LeakyFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.where(x > 0, x, alpha * x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.clone(), None  # the negative side should be alpha * grad


class Leaky(nn.Module):
    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _LeakyFn.apply(x, self.alpha)
