"""S-shaped ReLU: three linear pieces with two trainable thresholds and two slopes.

    f(x)_c = t_r + a_r * (x - t_r)    x >= t_r
             x                        t_l < x < t_r
             t_l + a_l * (x - t_l)    x <= t_l

with four parameters per channel (dimension 1). Jin, Xu, Feng, Wei, Xiong & Yan,
"Deep Learning with S-shaped Rectified Linear Activation Units", AAAI 2016,
arXiv:1512.07030.

The paper gives no fixed initial values: it trains the first epochs with SReLU frozen
to a leaky ReLU (t_l = 0, a_r = 1, so that the right threshold is no kink at all) and
then sets t_r from the data. The defaults here, t_l = -0.5, a_l = 0.1, t_r = 1,
a_r = 0.5, are an asymmetric S with both kinks present, so that a slip between the
left and the right parameters shows and every one of the four gradients is
exercised:

    d/dt_r = 1 - a_r,   d/da_r = x - t_r     (x >= t_r, 0 elsewhere)
    d/dt_l = 1 - a_l,   d/da_l = x - t_l     (x <= t_l, 0 elsewhere)

At a threshold the outer piece is taken (the paper's >= and <=). A zero slope makes
the outer piece constant, and then a * (x - t) is 0 * inf = NaN at an infinite input;
the functional returns the limits there instead (t_r or t_l for a zero slope, +-inf by
the slope's sign otherwise) and evaluates the pieces only on finite inputs.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor

from acts._util import ActivationModule, per_channel
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Param, Properties, Smoothness


def _outer_limit(t: Tensor, a: Tensor, sign: float, x: Tensor) -> Tensor:
    """The limit of t + a (x - t) as x -> sign * inf."""
    inf = x.new_tensor(math.inf)
    return torch.where(a == 0, t, torch.where(a * sign > 0, inf, -inf))


def srelu(
    x: Tensor,
    t_l: Tensor | float,
    a_l: Tensor | float,
    t_r: Tensor | float,
    a_r: Tensor | float,
) -> Tensor:
    t_l, a_l, t_r, a_r = (
        cast(Tensor, per_channel(torch.as_tensor(p, dtype=x.dtype, device=x.device), x))
        for p in (t_l, a_l, t_r, a_r)
    )
    pos_inf, neg_inf = x == math.inf, x == -math.inf
    xs = torch.where(pos_inf | neg_inf, 0.0, x)
    left = t_l + a_l * (xs - t_l)
    right = t_r + a_r * (xs - t_r)
    y = torch.where(x >= t_r, right, torch.where(x <= t_l, left, xs))
    y = torch.where(pos_inf, _outer_limit(t_r, a_r, 1.0, x), y)
    return torch.where(neg_inf, _outer_limit(t_l, a_l, -1.0, x), y)


def reference(
    x: Tensor,
    t_l: Tensor | float,
    a_l: Tensor | float,
    t_r: Tensor | float,
    a_r: Tensor | float,
) -> Tensor:
    t_l, a_l, t_r, a_r = (per_channel(torch.as_tensor(p, dtype=x.dtype, device=x.device), x) for p in (t_l, a_l, t_r, a_r))
    return x + (a_r - 1) * torch.relu(x - t_r) + (1 - a_l) * torch.relu(t_l - x)


class SReLU(ActivationModule):
    params = (
        Param("t_l", -0.5, per_channel=True, edge_values=(0.0, 0.9), doc="left threshold"),
        Param("a_l", 0.1, per_channel=True, edge_values=(0.0, -0.2), doc="slope left of t_l"),
        Param("t_r", 1.0, per_channel=True, edge_values=(-0.4, 3.0), doc="right threshold"),
        Param("a_r", 0.5, per_channel=True, edge_values=(0.0, 2.0), doc="slope right of t_r"),
    )
    fn = staticmethod(srelu)


SPEC = register(Activation(
    name="srelu", kind=Kind.PARAMETRIC,
    formula="t_r + a_r (x - t_r) (x >= t_r); x (t_l < x < t_r); t_l + a_l (x - t_l) (x <= t_l)",
    source="Jin et al. 2016, AAAI, arXiv:1512.07030", module=SReLU, functional=srelu, reference=reference,
    oracle="the hinge sum x + (a_r - 1) max(0, x - t_r) + (1 - a_l) max(0, t_l - x)", params=SReLU.params,
    kinks=(
            Kink(lambda p: p["t_l"], doc="slope changes from a_l to 1"),
            Kink(lambda p: p["t_r"], doc="slope changes from 1 to a_r"),
    ),
    properties=Properties(limits=(-math.inf, math.inf), monotonic=True, smoothness=Smoothness.C0),
))
