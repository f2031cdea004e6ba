"""Subjects that try to end the run: a leftover ``sys.exit`` and a stray interrupt."""

import sys

import torch
from torch import nn


class NeedsCuda(nn.Module):
    """Refuses to be built on a CPU-only machine, the script way."""

    def __init__(self) -> None:
        super().__init__()
        if not torch.cuda.is_available():
            sys.exit(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


class DebugExit(nn.Module):
    """A forward with a debugging exit left in."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad:
            sys.exit(0)
        return torch.tanh(x)


class Interrupting(nn.Module):
    """Stops itself the way a notebook's interrupt button would."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise KeyboardInterrupt
