"""Softplus: f(x) = log(1 + exp(beta * x)) / beta, and x where beta * x > threshold.

Dugas, Bengio, Bélisle, Nadeau & Garcia, "Incorporating Second-Order Functional
Knowledge for Better Option Pricing", NeurIPS 2000.

The ``threshold`` switch is ``torch.nn.functional.softplus``'s, kept so that the two
agree to rounding. It is not needed for stability: log(1 + exp(z)) is computed as
log1p(exp(z)) below 0 and z + log1p(exp(-z)) above, each branch fed only its own side
of 0, so no exp ever overflows and threshold = inf gives the exact function.
(``torch.logaddexp(z, 0)`` would do for the value and gradient, but its second
derivative is inf / inf = NaN for z below about -710.) The switch leaves a jump of
log1p(exp(-threshold)) / beta (2.1e-9 at the defaults) at x = threshold / beta,
declared as a jump kink: below float32's resolution there, but in float64 it is real,
and a finite difference across it is off by about 1e-3.

The in-place variant recovers the derivative sigmoid(beta x) from the output alone,
1 - exp(-beta y), so it saves nothing but the output in training.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, inplace_from_output
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Param, Properties


def log1p_exp(z: Tensor) -> Tensor:
    """log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)) without overflow in the value or in
    its first two derivatives, with one exp and one log1p per element. -|z| is written
    as a select so that at z = 0 its derivative is the left one, which gives the
    derivative 1/2 there (abs' own derivative at 0 is 0)."""
    pos = z > 0
    tail = torch.log1p(torch.exp(torch.where(pos, -z, z)))
    return torch.where(pos, z + tail, tail)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    z = x * beta
    return torch.where(z > threshold, x, log1p_exp(z) / beta)


def _softplus_slope(y: Tensor, beta: float, threshold: float) -> Tensor:
    # y = log(1 + exp(beta x)) / beta gives sigmoid(beta x) = 1 - exp(-beta y).
    z = y * beta
    return torch.where(z > threshold, 1.0, -torch.expm1(-z))


SoftplusInplaceFunction = inplace_from_output(
    "Softplus", lambda x, beta, threshold: x.copy_(softplus(x, beta, threshold)), _softplus_slope
)

def softplus_(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return SoftplusInplaceFunction.apply(x, beta, threshold)


class Softplus(ActivationModule):
    params = (
        Param("beta", 1.0, trainable=False, edge_values=(0.5, 2.0), doc="sharpness; beta -> inf gives ReLU"),
        Param(
            "threshold", 20.0, trainable=False, doc="above beta * x > threshold the output is x, as in torch"
        ),
    )
    fn = staticmethod(softplus)
    fn_inplace = staticmethod(softplus_)


SPEC = register(Activation(
    name="softplus", kind=Kind.FORMULA, formula="log(1 + exp(beta x)) / beta; x where beta x > threshold",
    source="Dugas et al. 2000, NeurIPS", module=Softplus, functional=softplus, reference=F.softplus,
    oracle="the built-in torch.nn.functional.softplus (the same threshold switch)", params=Softplus.params,
    inplace=softplus_, inplace_saves_training_memory=True,
    kinks=(
            Kink(
                lambda p: p["threshold"] / p["beta"],
                jump=True,
                doc="torch's switch to the identity, a jump of log1p(exp(-threshold)) / beta",
            ),
    ),
    builtin=F.softplus, builtin_name="torch.nn.functional.softplus",
    properties=Properties(limits=(0.0, math.inf), value_at_zero=math.log(2.0), bounds=(0.0, None), monotonic=True),
))
