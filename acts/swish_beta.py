"""Swish with a trainable slope: f(beta, x) = x * sigmoid(beta * x).

Ramachandran, Zoph & Le, "Searching for Activation Functions", arXiv:1710.05941
(2017), section 4, where beta is "either a constant or a trainable parameter".

beta = 1 is SiLU, beta = 0 the scaled identity x / 2, beta -> +inf ReLU; a negative
beta mirrors the function (x * sigmoid(-|beta| x) = x - x * sigmoid(|beta| x)).

The gradient with respect to beta is x^2 * sigmoid'(beta x), x^2 / 4 at beta = 0.
Infinite inputs are the one place where the product form fails: x * sigmoid(beta x)
is inf * 0 = NaN where beta x -> -inf (SiLU's -inf), and beta x = 0 * inf is NaN at
beta = 0. There the functional returns the limit (x where beta x -> +inf or
beta = 0, since x / 2 = x at infinity; 0 where beta x -> -inf) and evaluates the
formula only on the finite inputs, so no NaN reaches any gradient. A product
beta * x that overflows a half-precision format at finite x is harmless: sigmoid
of +-inf is exact and its derivative there is 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, sigmoid
from acts.registry import register
from acts.silu import SILU_MIN
from acts.spec import Activation, Kind, Param, Properties


def swish_beta(x: Tensor, beta: Tensor | float) -> Tensor:
    beta = torch.as_tensor(beta, dtype=x.dtype, device=x.device)
    infinite = torch.isinf(x)
    xs = torch.where(infinite, 0.0, x)
    # acts._util.sigmoid: d/dbeta = x^2 s (1 - s) through torch.sigmoid would be 0 in
    # bfloat16 from beta x = 5.5 on.
    y = xs * sigmoid(beta * xs)
    # The limit at x = +-inf: 0 where beta x -> -inf, x itself otherwise.
    limit = torch.where(beta * torch.sign(x) < 0, 0.0, x)
    return torch.where(infinite, limit, y)


def reference(x: Tensor, beta: Tensor | float) -> Tensor:
    return x * torch.exp(F.logsigmoid(torch.as_tensor(beta, dtype=x.dtype, device=x.device) * x))


class SwishBeta(ActivationModule):
    params = (
        Param(
            "beta",
            1.0,
            edge_values=(0.0, -1.0, 10.0),
            doc="slope of the sigmoid gate; 1 is SiLU, 0 gives x / 2, large values approach ReLU",
        ),
    )
    fn = staticmethod(swish_beta)


# The lower bound is beta = 1's: the minimum of x sigmoid(beta x) is SILU_MIN / beta for beta > 0.
SPEC = register(Activation(
    name="swish_beta", kind=Kind.PARAMETRIC, formula="x * sigmoid(beta * x)",
    source="Ramachandran, Zoph & Le 2017, arXiv:1710.05941", module=SwishBeta, functional=swish_beta,
    reference=reference, oracle="x exp(logsigmoid(beta x)): log-sigmoid and exp, no sigmoid",
    params=SwishBeta.params, properties=Properties(limits=(0.0, math.inf), bounds=(SILU_MIN, None)),
))
