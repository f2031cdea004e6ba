"""Parametric ReLU with one trainable negative slope per channel.

    f(x)_c = x_c               x_c > 0
             weight_c * x_c    x_c <= 0

He, Zhang, Ren & Sun, "Delving Deep into Rectifiers: Surpassing Human-Level
Performance on ImageNet Classification", ICCV 2015, arXiv:1502.01852.

The layout is ``nn.PReLU``'s: the weight has one entry per channel of dimension 1
(``channels=1`` shares a single slope). At the kink the derivative is taken from the
negative side (weight with respect to x, 0 with respect to weight), which is what
``torch.nn.functional.prelu`` does. The gradient with respect to weight_c is the sum
of x over the non-positive inputs of channel c.

``F.prelu`` computes weight * x on the negative side and so returns NaN at x = -inf
when weight = 0; the limit there is 0 (and +inf for a negative weight). The functional
returns the limit and multiplies the weight only by finite inputs, so an infinite
input leaves the weight's gradient finite.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, per_channel
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Param, Properties, Smoothness


def prelu(x: Tensor, weight: Tensor | float) -> Tensor:
    w = cast(Tensor, per_channel(torch.as_tensor(weight, dtype=x.dtype, device=x.device), x))
    neg_inf = x == -math.inf
    xs = torch.where(torch.isinf(x), 0.0, x)
    inf = x.new_tensor(math.inf)
    # The limit at -inf: -inf * sign(weight), and 0 for a zero weight.
    limit = torch.where(w > 0, -inf, torch.where(w < 0, inf, x.new_tensor(0.0)))
    return torch.where(x > 0, x, torch.where(neg_inf, limit, w * xs))


def reference(x: Tensor, weight: Tensor | float) -> Tensor:
    w = per_channel(torch.as_tensor(weight, dtype=x.dtype, device=x.device), x)
    return torch.relu(x) - w * torch.relu(-x)


class PReLU(ActivationModule):
    params = (
        Param(
            "weight",
            0.25,
            per_channel=True,
            edge_values=(0.0, 1.0, -0.5),
            doc="negative slope per channel; 0 is ReLU, 1 the identity, a negative slope folds the negative side up",
        ),
    )
    fn = staticmethod(prelu)


SPEC = register(Activation(
    name="prelu", kind=Kind.PARAMETRIC, formula="x (x > 0); weight_c * x (x <= 0)",
    source="He et al. 2015, ICCV, arXiv:1502.01852", module=PReLU, functional=prelu, reference=reference,
    oracle="max(0, x) + weight min(0, x) through torch.relu", builtin=F.prelu,
    builtin_name="torch.nn.functional.prelu", params=PReLU.params,
    kinks=(Kink(0.0, doc="the slope changes from weight to 1 (no kink at weight = 1)"),),
    properties=Properties(limits=(-math.inf, math.inf), monotonic=True, smoothness=Smoothness.C0),
))
