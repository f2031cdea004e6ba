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


class Smish(ActivationModule):
    fn = staticmethod(smish)


SPEC = register(
    Activation(
        name="smish",
        kind=Kind.FORMULA,
        formula="x * tanh(log(1 + sigmoid(x)))",
        source="Wang et al. 2022, Electronics 11(4):540",
        module=Smish,
        functional=smish,
        reference=smish,
        properties=Properties(
            limits=(0.0, math.inf),
            value_at_zero=0.0,
            bounds=(SMISH_MIN, None),
            monotonic=False,
            parity=None,
        ),
    )
)
