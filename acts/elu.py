"""ELU: f(x) = x for x > 0, alpha * (exp(x) - 1) for x <= 0.

Clevert, Unterthiner & Hochreiter, "Fast and Accurate Deep Network Learning by
Exponential Linear Units (ELUs)", ICLR 2016, arXiv:1511.07289.

At the default alpha = 1 both one-sided derivatives at 0 are 1 and the second ones 0
and 1: the function is C1 with no kink. Any other alpha puts a kink at 0, which is why
alpha carries no edge values here. The negative branch sees x clamped to <= 0, so its
exp never overflows where it is not selected. The in-place variant recovers the
derivative from the output alone, y + alpha on the negative side, so it saves nothing
but the output in training.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, expm1, inplace_from_output
from acts.registry import register
from acts.spec import Activation, Kind, Param, Properties, Smoothness


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    return torch.where(x > 0, x, alpha * expm1(x.clamp(max=0)))


# torch's in-place kernel writes the result with no temporary, so the input's memory
# is really reused; the derivative comes from the output.
ELUInplaceFunction = inplace_from_output(
    "ELU",
    lambda x, alpha: F.elu_(x, alpha),
    # d/dx alpha * (exp(x) - 1) = alpha * exp(x) = y + alpha.
    lambda y, alpha: torch.where(y > 0, 1.0, y + alpha),
)

def elu_(x: Tensor, alpha: float = 1.0) -> Tensor:
    return ELUInplaceFunction.apply(x, alpha)


class ELU(ActivationModule):
    params = (Param("alpha", 1.0, trainable=False, doc="the negative saturation value is -alpha"),)
    fn = staticmethod(elu)
    fn_inplace = staticmethod(elu_)


SPEC = register(Activation(
    name="elu", kind=Kind.FORMULA, formula="x (x > 0); alpha * (exp(x) - 1) (x <= 0)",
    source="Clevert et al. 2016, ICLR, arXiv:1511.07289", module=ELU, functional=elu, reference=F.elu,
    oracle="the built-in torch.nn.functional.elu", params=ELU.params, inplace=elu_,
    inplace_saves_training_memory=True, builtin=F.elu, builtin_name="torch.nn.functional.elu",
    properties=Properties(limits=(-1.0, math.inf), bounds=(-1.0, None), monotonic=True, smoothness=Smoothness.C1),
))
