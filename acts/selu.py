"""SELU: f(x) = scale * x for x > 0, scale * alpha * (exp(x) - 1) for x <= 0, with the
published constants alpha = 1.6732632423543772848, scale = 1.0507009873554804934.

Klambauer, Unterthiner, Mayr & Hochreiter, "Self-Normalizing Neural Networks",
NeurIPS 2017, arXiv:1706.02515.

The one-sided derivatives at 0 are scale and scale * alpha: a kink. The negative branch
sees x clamped to <= 0, so its exp never overflows where it is not selected. The
in-place variant recovers the derivative from the output, y + scale * alpha on the
negative side, so it saves nothing but the output in training.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, expm1, inplace_from_output
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Properties, Smoothness

ALPHA = 1.6732632423543772848170429916717
SCALE = 1.0507009873554804934193349852946


def selu(x: Tensor) -> Tensor:
    return SCALE * torch.where(x > 0, x, ALPHA * expm1(x.clamp(max=0)))


SELUInplaceFunction = inplace_from_output(
    "SELU",
    lambda x: x.copy_(selu(x)),
    # d/dx scale * alpha * (exp(x) - 1) = scale * alpha * exp(x) = y + scale * alpha.
    lambda y: torch.where(y > 0, SCALE, y + SCALE * ALPHA),
)

def selu_(x: Tensor) -> Tensor:
    return SELUInplaceFunction.apply(x)


class SELU(ActivationModule):
    fn = staticmethod(selu)
    fn_inplace = staticmethod(selu_)


SPEC = register(Activation(
    name="selu", kind=Kind.FORMULA, formula="scale * x (x > 0); scale * alpha * (exp(x) - 1) (x <= 0)",
    source="Klambauer et al. 2017, NeurIPS, arXiv:1706.02515", module=SELU, functional=selu, reference=F.selu,
    oracle="the built-in torch.nn.functional.selu", inplace=selu_, inplace_saves_training_memory=True,
    kinks=(Kink(0.0),), builtin=F.selu, builtin_name="torch.nn.functional.selu",
    properties=Properties(limits=(-SCALE * ALPHA, math.inf), bounds=(-SCALE * ALPHA, None), monotonic=True, smoothness=Smoothness.C0, gain=0.75),
))
