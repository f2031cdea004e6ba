"""Subjects that change torch's global state and leave it changed."""

import torch
from torch import nn


class NoGradSwish(nn.Module):
    """Saves memory by turning autograd off, and never turns it back on."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * torch.sigmoid(x)
        torch.set_grad_enabled(False)
        return y


class DoubleTanh(nn.Module):
    """Wants float64 accuracy, so switches the default dtype for everyone."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.set_default_dtype(torch.float64)
        return torch.tanh(x)
