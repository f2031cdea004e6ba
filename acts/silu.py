"""SiLU / Swish-1: f(x) = x * sigmoid(x).

Hendrycks & Gimpel, "Gaussian Error Linear Units (GELUs)", arXiv:1606.08415 (2016);
Elfwing, Uchibe & Doya, "Sigmoid-weighted linear units for neural network function
approximation in reinforcement learning", Neural Networks 107 (2018);
Ramachandran, Zoph & Le, "Searching for Activation Functions", arXiv:1710.05941 (2017).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, sigmoid
from acts.registry import register
from acts.spec import Activation, Kind, Properties

# The minimum of x * sigmoid(x), at the root x = -1.27846 of 1 + x + exp(x) = 0.
SILU_MIN = -0.27846454276107374


def silu(x: Tensor) -> Tensor:
    # x * sigmoid(x) is -inf * 0 = NaN at -inf; the limit there is 0.
    return torch.where(x == -math.inf, 0.0, x * sigmoid(x))


def reference(x: Tensor) -> Tensor:
    return x * torch.exp(F.logsigmoid(x))


class SiLU(ActivationModule):
    fn = staticmethod(silu)


SPEC = register(Activation(
    name="silu", aliases=("swish",), kind=Kind.FORMULA, formula="x * sigmoid(x)",
    source="Elfwing et al. 2018, Neural Networks 107; Ramachandran et al. 2017, arXiv:1710.05941",
    module=SiLU, functional=silu, reference=reference,
    oracle="x exp(logsigmoid(x)) (F.silu's backward loses x e^-x to 1 - sigmoid(x))", builtin=F.silu,
    builtin_name="torch.nn.functional.silu",
    properties=Properties(limits=(0.0, math.inf), bounds=(SILU_MIN, None)),
))
