"""Smish: f(x) = x * tanh(log(1 + sigmoid(x))).

Wang, Ren & Wang, "Smish: A Novel Activation Function for Deep Learning Methods",
Electronics 11(4), 540 (2022).

Every factor is bounded, so nothing overflows; only -inf needs care.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from acts._util import ActivationModule
from acts.registry import register
from acts.spec import Activation, Kind, Properties

# The minimum, at x = -1.3945193019245040842.
SMISH_MIN = -0.24999366366012948


def smish(x: Tensor) -> Tensor:
    # -inf * tanh(log(1 + 0)) is -inf * 0 = NaN; the limit there is 0.
    return torch.where(x == -math.inf, 0.0, x * torch.tanh(torch.log1p(torch.sigmoid(x))))


def reference(x: Tensor) -> Tensor:
    # tanh(log(1 + sigmoid x)) = r (2 + 3r) / (2 + 6r + 5r^2), r = e^x; in e = e^-x above 0.
    r, e = torch.exp(x.clamp(max=0)), torch.exp(-x.clamp(min=0))
    t = torch.where(x <= 0, r * (2 + 3 * r) / (2 + r * (6 + 5 * r)), (2 * e + 3) / (5 + e * (6 + 2 * e)))
    return torch.where(x == -math.inf, 0.0, x * t)


class Smish(ActivationModule):
    fn = staticmethod(smish)


SPEC = register(Activation(
    name="smish", kind=Kind.FORMULA, formula="x * tanh(log(1 + sigmoid(x)))",
    source="Wang et al. 2022, Electronics 11(4):540", module=Smish, functional=smish, reference=reference,
    oracle="x r (2 + 3r) / (2 + 6r + 5r^2), r = e^x: a rational function of e^x, no log, no tanh",
    properties=Properties(limits=(0.0, math.inf), bounds=(SMISH_MIN, None)),
))
