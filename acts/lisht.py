"""LiSHT, linearly scaled hyperbolic tangent: f(x) = x * tanh(x).

Roy, Manna, Dubey & Chaudhuri, "LiSHT: Non-Parametric Linearly Scaled Hyperbolic
Tangent Activation Function for Neural Networks", arXiv:1901.05894 (2019).

An even function: both limits are +inf and the minimum is 0 at x = 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from acts import _oracle
from acts._util import ActivationModule
from acts.registry import register
from acts.spec import Activation, Kind, Properties


def lisht(x: Tensor) -> Tensor:
    return x * torch.tanh(x)


class LiSHT(ActivationModule):
    fn = staticmethod(lisht)


SPEC = register(Activation(
    name="lisht", kind=Kind.FORMULA, formula="x * tanh(x)", source="Roy et al. 2019, arXiv:1901.05894",
    module=LiSHT, functional=lisht, reference=lambda x: x * _oracle.tanh(x),
    oracle="x tanh(x), tanh through expm1 (no 1 - tanh^2 in its derivative)",
    properties=Properties(limits=(math.inf, math.inf), bounds=(0.0, None), parity="even"),
))
