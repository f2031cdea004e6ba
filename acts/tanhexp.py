"""TanhExp: f(x) = x * tanh(exp(x)).

Liu & Di, "TanhExp: A Smooth Activation Function with High Convergence Speed for
Lightweight Neural Networks", IET Computer Vision 15(2) (2021), arXiv:2003.09855 (2020).

exp(x) overflows for large x, and the gradient of tanh there is then 0 * inf = NaN. The
exp is fed x clamped to <= 4: tanh(exp(4)) = tanh(54.6) is already exactly 1 in
float64, so clamping changes no value and no gradient beyond rounding.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from acts import _oracle
from acts._util import ActivationModule, tanh
from acts.registry import register
from acts.spec import Activation, Kind, Properties

# The minimum, at x = -1.0788600584646240567.
TANHEXP_MIN = -0.35328577784821125
_SATURATED = 4.0


def tanhexp(x: Tensor) -> Tensor:
    # -inf * tanh(exp(-inf)) is -inf * 0 = NaN; the limit there is 0.
    return torch.where(x == -math.inf, 0.0, x * tanh(torch.exp(x.clamp(max=_SATURATED))))


class TanhExp(ActivationModule):
    fn = staticmethod(tanhexp)


SPEC = register(Activation(
    name="tanhexp", kind=Kind.FORMULA, formula="x * tanh(exp(x))",
    source="Liu & Di 2021, IET Computer Vision, arXiv:2003.09855", module=TanhExp, functional=tanhexp,
    reference=lambda x: x * _oracle.tanh(torch.exp(x.clamp(max=40.0))),
    oracle="x tanh(e^x), tanh through expm1 (tanh(e^40) is 1 in float64)",
    properties=Properties(limits=(0.0, math.inf), bounds=(TANHEXP_MIN, None)),
))
