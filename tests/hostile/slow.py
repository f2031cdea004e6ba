"""Subjects whose cost is time or memory: a correct activation with one slow path, one
that waits on the clock without using the CPU, and one with one greedy path."""

import time

import torch
from torch import nn
from torch.autograd import forward_ad


def _softplus_series(t: float, terms: int = 10**9) -> float:
    """log(1 + e^t) summed term by term, as a scalar fallback would (far too many terms)."""
    total = 0.0
    for k in range(1, terms):
        total += (-1) ** (k + 1) * t**k / k
    return total


class SlowJvp(nn.Module):
    """Softplus whose forward-mode path falls back to a scalar series in Python: right,
    and far slower than any limit."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if forward_ad.unpack_dual(x).tangent is not None:
            _softplus_series(0.5)
        return nn.functional.softplus(x)


class Drowsy(nn.Module):
    """GELU that, on a NaN input, waits for a logging service before carrying on: time by
    the clock, no CPU."""

    wait_s = 1.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.isnan(x).any():
            time.sleep(self.wait_s)
        return nn.functional.gelu(x)


class GreedyJvp(nn.Module):
    """Softplus whose forward-mode path reserves a 4 GiB workspace first."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if forward_ad.unpack_dual(x).tangent is not None:
            workspace = torch.empty(1 << 30)
            del workspace
        return nn.functional.softplus(x)
