"""Building blocks of the independent oracles: closed forms the implementations do not
use, accurate in float64 where the textbook form cancels, differentiable by autograd."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from acts._util import expm1


def tanh(z: Tensor) -> Tensor:
    """tanh(z) = -expm1(-2|z|) / (2 + expm1(-2|z|)) sign(z). Its autograd derivative has
    no 1 - tanh^2 that cancels at large |z| (torch.tanh's backward is 1 - y^2). -|z| is a
    select, so the derivative at 0 is 1, not abs' 0; expm1's derivative is exp, not
    autograd's expm1 + 1, which cancels."""
    pos = z > 0
    e = expm1(2 * torch.where(pos, -z, z))
    t = e / (e + 2)
    return torch.where(pos, -t, t)


def phi(x: Tensor) -> Tensor:
    """The standard normal cdf through the scaled erfc, erfcx(z) exp(-z^2) = erfc(z):
    no erf that cancels below 0, no erfc as the implementation uses. |x| is a select, so
    that the derivative at 0 is not abs' 0. Half types compute in float32 (torch has
    no half erfcx)."""
    if x.dtype in (torch.float16, torch.bfloat16):
        return phi(x.float()).to(x.dtype)
    z = torch.where(x < 0, -x, x) * math.sqrt(0.5)
    tail = 0.5 * torch.special.erfcx(z) * torch.exp(-z * z)
    return torch.where(x < 0, tail, 1 - tail)
