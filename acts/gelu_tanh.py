"""GELU, tanh approximation:

    f(x) = x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) / 2
         = x * sigmoid(2 sqrt(2/pi) * (x + 0.044715 x^3))

Hendrycks & Gimpel, "Gaussian Error Linear Units (GELUs)", arXiv:1606.08415 (2016).

The sigmoid form keeps the tiny value for very negative x, where 1 + tanh cancels to 0.
The cubic overflows float16 beyond |x| = 40 and its derivative beyond 147; an infinite
argument then makes the gradient 0 * inf = NaN. The cubic is therefore fed x clamped to
[-30, 30], where the sigmoid is already exactly 0 or 1 in float64 (its argument is
-+1974), so clamping changes no value and no gradient beyond rounding.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, sigmoid
from acts.registry import register
from acts.spec import Activation, Kind, Properties

# The minimum, at x = -0.75246142207101625849.
GELU_TANH_MIN = -0.17004075057125406
_SATURATED = 30.0


def gelu_tanh(x: Tensor) -> Tensor:
    xc = x.clamp(-_SATURATED, _SATURATED)
    inner = (2.0 * math.sqrt(2.0 / math.pi)) * (xc + 0.044715 * (xc * xc * xc))
    # -inf * sigmoid(-inf) is -inf * 0 = NaN; the limit there is 0.
    return torch.where(x == -math.inf, 0.0, x * sigmoid(inner))


def reference(x: Tensor) -> Tensor:
    u = (2.0 * math.sqrt(2.0 / math.pi)) * x * (1 + 0.044715 * x * x)
    return torch.where(x == -math.inf, 0.0, x * torch.exp(F.logsigmoid(u)))


class GELUTanh(ActivationModule):
    fn = staticmethod(gelu_tanh)


SPEC = register(Activation(
    name="gelu_tanh", kind=Kind.FORMULA, formula="x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) / 2",
    source="Hendrycks & Gimpel 2016, arXiv:1606.08415", module=GELUTanh, functional=gelu_tanh,
    reference=reference,
    oracle="x exp(logsigmoid(2 sqrt(2/pi) x (1 + 0.044715 x^2))): log-sigmoid and exp, no sigmoid",
    builtin=functools.partial(F.gelu, approximate="tanh"),
    builtin_name="torch.nn.functional.gelu(approximate='tanh')",
    properties=Properties(limits=(0.0, math.inf), bounds=(GELU_TANH_MIN, None)),
))
