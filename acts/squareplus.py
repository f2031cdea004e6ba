"""Squareplus: f(x) = (x + sqrt(x^2 + b)) / 2.

Barron, "Squareplus: A Softplus-Like Algebraic Rectifier", arXiv:2112.11687 (2021).

sqrt(x^2 + b) is hypot(x, sqrt(b)), which does not overflow where x^2 would (float16
beyond |x| = 256). For x < 0 the sum x + sqrt(x^2 + b) cancels; the same value is
b / (2 (sqrt(x^2 + b) + |x|)), whose denominator is at least 2 sqrt(b) for every
x, so neither branch is ever inf or NaN, selected or not.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from acts._util import ActivationModule
from acts.registry import register
from acts.spec import Activation, Kind, Param, Properties


def squareplus(x: Tensor, b: float = 4.0) -> Tensor:
    h = torch.hypot(x, torch.tensor(math.sqrt(b), dtype=x.dtype, device=x.device))
    return torch.where(x >= 0, 0.5 * x + 0.5 * h, 0.5 * b / (h + x.abs()))


def reference(x: Tensor, b: float = 4.0) -> Tensor:
    # At x = sqrt(b) sinh t: x + sqrt(x^2 + b) = sqrt(b) (sinh t + cosh t) = sqrt(b) e^t.
    return math.sqrt(b) / 2 * torch.exp(torch.asinh(x / math.sqrt(b)))


class Squareplus(ActivationModule):
    params = (Param("b", 4.0, trainable=False, doc="curvature at 0; b = 0 gives ReLU"),)
    fn = staticmethod(squareplus)


# f(0) = sqrt(b) / 2.
SPEC = register(Activation(
    name="squareplus", kind=Kind.FORMULA, formula="(x + sqrt(x^2 + b)) / 2",
    source="Barron 2021, arXiv:2112.11687", module=Squareplus, functional=squareplus, reference=reference,
    oracle="sqrt(b) exp(asinh(x / sqrt(b))) / 2: no sum to cancel, no hypot", params=Squareplus.params,
    properties=Properties(limits=(0.0, math.inf), value_at_zero=1.0, bounds=(0.0, None), monotonic=True),
))
