"""Sparsemax: the Euclidean projection of x onto the probability simplex, along the last
dimension, f(x) = argmin_{p >= 0, sum p = 1} |p - x|^2 = max(x - tau, 0), tau such that
the outputs sum to 1.

Martins & Astudillo, "From Softmax to Sparsemax: A Sparse Model of Attention and
Multi-Label Classification", ICML 2016.

tau comes from the sorted entries z_1 >= z_2 >= ...: the support is the k with
1 + k z_k > z_1 + ... + z_k, and tau = (z_1 + ... + z_K - 1) / K for the largest such K
(the paper's Algorithm 1). Autograd differentiates through the sort and the gather, which
gives the paper's Jacobian diag(s) - s s^T / K (s the support's indicator). The maximum
is subtracted first: tau is shift-invariant, and the cumulative sum then stays finite.

A vector-valued activation: each output depends on its whole vector, so the spec states
the layout ``vector:-1``, and its properties describe entry 0 of a vector of 4 whose
other entries are 0 (value 1/4 at the zero vector; 0 and 1 as that entry goes to -inf
and +inf).
"""

from __future__ import annotations

import torch
from torch import Tensor

from acts._util import ActivationModule
from acts.registry import register
from acts.spec import Activation, Kind, Properties, Smoothness

# Halvings of tau's bracket [max - 1, max] in the oracle: 2^-64 of the bracket is
# below float64's resolution at any max of size 1 and above.
BISECTIONS = 64


def sparsemax(x: Tensor) -> Tensor:
    x = x - x.amax(dim=-1, keepdim=True)
    z, order = torch.sort(x, dim=-1, descending=True)
    k = torch.arange(1, x.shape[-1] + 1, dtype=x.dtype, device=x.device)
    cumsum = z.cumsum(dim=-1)
    in_support = 1 + k * z > cumsum
    # At least the largest entry is in the support (1 + z_1 > z_1); only a NaN vector has none.
    size = in_support.sum(dim=-1, keepdim=True).clamp(min=1)
    tau = (cumsum.gather(-1, size - 1) - 1) / size.to(x.dtype)
    # The support is the K entries tau was summed over, by rank (of tied entries only
    # those counted): not x > tau (clamp), which rounding may let disagree with it near
    # x = tau, and whose gradient is then neither side's Jacobian. An entry at tau may
    # come out a rounding below 0.
    support = torch.zeros_like(x, dtype=torch.bool).scatter(-1, order, k <= size)
    # A NaN anywhere in the vector made every entry NaN (through the max): it stays.
    return torch.where(support | torch.isnan(x), x - tau, torch.zeros_like(x))


def reference(x: Tensor) -> Tensor:
    """The support found by bisection on tau (sum max(x - tau, 0) = 1 is decreasing in
    tau, with tau in [max - 1, max]), no sort; then tau = (sum of the support - 1) / K on
    it, differentiated by autograd."""
    top = x.detach().amax(dim=-1, keepdim=True)
    lo, hi = top - 1, top
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        over = (x.detach() - mid).clamp(min=0).sum(dim=-1, keepdim=True) > 1
        lo, hi = torch.where(over, mid, lo), torch.where(over, hi, mid)
    support = x.detach() > lo
    size = support.sum(dim=-1, keepdim=True).clamp(min=1)
    tau = (torch.where(support, x, torch.zeros_like(x)).sum(dim=-1, keepdim=True) - 1) / size.to(x.dtype)
    return torch.where(support, x - tau, torch.zeros_like(x))


class Sparsemax(ActivationModule):
    fn = staticmethod(sparsemax)


register(Activation(
    name="sparsemax", kind=Kind.FORMULA, formula="max(x - tau, 0) along the last dimension, sum = 1",
    source="Martins & Astudillo 2016, ICML", module=Sparsemax, functional=sparsemax, reference=reference,
    oracle="the support by bisection on the threshold tau (no sort), tau in closed form on it, autograd",
    layout="vector:-1", elementwise=False,
    properties=Properties(limits=(0.0, 1.0), value_at_zero=0.25, bounds=(0.0, 1.0), monotonic=True,
                          smoothness=Smoothness.C0),
))
