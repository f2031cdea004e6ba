"""Snake: a periodic activation with a trainable frequency per channel.

    f(alpha, x) = x + sin^2(alpha * x) / alpha    alpha != 0
                  x                               alpha = 0

Liu Ziyin, Tilman Hartwig & Masahito Ueda, "Neural Networks Fail to Learn Periodic
Functions and How to Fix It", NeurIPS 2020, arXiv:2006.08195. The per-channel alpha
is the form BigVGAN and the paper's own experiments use.

alpha = 0 is the limit: sin^2(alpha x) / alpha = alpha x^2 - alpha^3 x^4 / 3 + ...,
so the value there is x and the gradient with respect to alpha is x^2 (the second
derivative is 0). The functional never divides by alpha: it writes

    sin^2(alpha x) / alpha = x * sin(u) * sinc(u),   u = alpha x,  sinc(u) = sin(u) / u,

with sinc taken from its Taylor polynomial near 0, so alpha = 0 is exact, the gradients
are x^2 (cos(u) sinc(u) + sin(u) sinc'(u)) with respect to alpha and bounded by x^2
for every alpha, and no 1 / alpha^2 term cancels or overflows as alpha -> 0 (the
naive form's d/dalpha is x sin(2u) / alpha - sin^2(u) / alpha^2). ``torch.sinc`` is
avoided on purpose: its backward is masked at 0, and its double backward is NaN
there. Half-precision inputs are computed in float32 and rounded once: the phase
alpha x of an input near 1e4 has no correct digit of its sine in float16. The
reference is the textbook form with an exact first-order branch at alpha = 0, in the
manner of soft exponential.

f'(x) = 1 + sin(2 alpha x) >= 0, so Snake is monotonic whatever alpha.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor

from acts._util import ActivationModule, per_channel
from acts.registry import register
from acts.spec import Activation, Kind, Param, Properties

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def snake(x: Tensor, alpha: Tensor | float) -> Tensor:
    compute = torch.float32 if x.dtype in _LOW_PRECISION else x.dtype
    xc = x.to(compute)
    a = cast(Tensor, per_channel(torch.as_tensor(alpha, dtype=compute, device=x.device), xc))
    infinite = torch.isinf(xc)
    xs = torch.where(infinite, 0.0, xc)
    u = a * xs
    # sinc(u) = sin(u) / u; near 0 its Taylor polynomial, whose error u^6 / 5040 is
    # below float64 rounding for |u| < 1e-2, so that neither branch divides by a tiny
    # u (the quotient's backward holds 1 / u^2, inf for a subnormal u).
    small = u.abs() < 1e-2
    u_big = torch.where(small, 1.0, u)
    u_small = torch.where(small, u, 0.0)
    u2 = u_small * u_small
    sinc = torch.where(small, 1.0 - u2 / 6.0 * (1.0 - u2 / 20.0), torch.sin(u_big) / u_big)
    y = xs + xs * torch.sin(u) * sinc
    # sin^2 / alpha is bounded, so the limits at +-inf are +-inf.
    return torch.where(infinite, xc, y).to(x.dtype)


def reference(x: Tensor, alpha: Tensor | float) -> Tensor:
    a = cast(Tensor, per_channel(torch.as_tensor(alpha, dtype=x.dtype, device=x.device), x))
    infinite = torch.isinf(x)
    xs = torch.where(infinite, 0.0, x)
    nonzero = a != 0
    a_safe = torch.where(nonzero, a, 1.0)
    periodic = torch.sin(a_safe * xs) ** 2 / a_safe
    # Exact to second order in alpha: value x, d/dalpha x^2, d2/dalpha2 0 at alpha = 0.
    # Written (alpha x) x so that alpha = 0 gives 0 where x * x would overflow.
    first_order = (a * xs) * xs
    y = xs + torch.where(nonzero, periodic, first_order)
    return torch.where(infinite, x, y)


class Snake(ActivationModule):
    params = (
        Param(
            "alpha",
            1.0,
            per_channel=True,
            edge_values=(0.0, 1e-3, -0.5),
            doc="frequency per channel; 0 is the identity, a negative alpha flips the ripple below the line",
        ),
    )
    fn = staticmethod(snake)


SPEC = register(Activation(
    name="snake", kind=Kind.PARAMETRIC, formula="x + sin(alpha x)^2 / alpha (x at alpha = 0)",
    source="Liu Ziyin, Hartwig & Ueda 2020, NeurIPS, arXiv:2006.08195", module=Snake, functional=snake,
    reference=reference,
    oracle="the textbook x + sin^2(alpha x) / alpha (x at alpha = 0, exact to second order), no sinc",
    params=Snake.params, properties=Properties(limits=(-math.inf, math.inf), monotonic=True),
))
