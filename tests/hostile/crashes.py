"""Subjects that take their process down with them or never come back."""

import ctypes
import itertools
import os

import torch
from torch import nn


class HardExit(nn.Module):
    """A C extension's abort path, as Python sees it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        os._exit(3)


class Segfault(nn.Module):
    """Reads through a null pointer, as a broken C extension does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ctypes.string_at(0)
        return x


_saved: list[torch.Tensor] = []


class Hoarder(nn.Module):
    """Reserves a 1 GiB workspace on every call 'for the backward', and never lets go."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _saved.append(torch.empty(1 << 28))
        return torch.relu(x)


class SpinsInC(nn.Module):
    """Stuck in a loop that never returns to Python: no signal handler ever runs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sum(itertools.repeat(0))
        return x
