"""Mish: f(x) = x * tanh(softplus(x)) = x * tanh(log(1 + exp(x))).

Misra, "Mish: A Self Regularized Non-Monotonic Activation Function", BMVC 2020,
arXiv:1908.08681 (2019).

softplus is computed without overflow in its value or first two derivatives, see
:func:`acts.softplus.log1p_exp`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule
from acts.registry import register
from acts.softplus import log1p_exp
from acts.spec import Activation, Kind, Properties

# The minimum, at x = -1.1924312145154952121.
MISH_MIN = -0.30884341301725043


def mish(x: Tensor) -> Tensor:
    # -inf * tanh(0) is -inf * 0 = NaN (torch's mish gives NaN there); the limit is 0.
    return torch.where(x == -math.inf, 0.0, x * torch.tanh(log1p_exp(x)))


def reference(x: Tensor) -> Tensor:
    # tanh(log(1 + e^x)) = n / (n + 2) with n = e^x (e^x + 2); tanh is 1 in float64 past 40.
    e = torch.exp(x.clamp(max=40.0))
    n = e * (e + 2)
    return torch.where(x == -math.inf, 0.0, x * torch.where(x < 0, n / (n + 2), 1 - 2 / (n + 2)))


class Mish(ActivationModule):
    fn = staticmethod(mish)


SPEC = register(Activation(
    name="mish", kind=Kind.FORMULA, formula="x * tanh(log(1 + exp(x)))",
    source="Misra 2020, BMVC, arXiv:1908.08681", module=Mish, functional=mish, reference=reference,
    oracle="x n / (n + 2), n = e^x (e^x + 2): no softplus, no tanh", builtin=F.mish,
    builtin_name="torch.nn.functional.mish",
    properties=Properties(limits=(0.0, math.inf), bounds=(MISH_MIN, None)),
))
