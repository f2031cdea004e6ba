"""CELU: f(x) = max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).

Barron, "Continuously Differentiable Exponential Linear Units", arXiv:1704.07483 (2017).

The derivative, 1 above 0 and exp(x / alpha) below, is continuous for every alpha > 0
(unlike ELU's); the second derivative jumps from 1 / alpha to 0, so the function is C1
with no kink. The negative branch sees x clamped to <= 0, so its exp never overflows
where it is not selected. The in-place variant recovers the derivative from the
output, exp(x / alpha) = 1 + y / alpha on the negative side.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, expm1, inplace_from_output
from acts.registry import register
from acts.spec import Activation, Kind, Param, Properties, Smoothness


def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    return torch.where(x > 0, x, alpha * expm1(x.clamp(max=0) / alpha))


# torch's in-place kernel writes the result with no temporary, so the input's memory
# is really reused; the derivative comes from the output.
CELUInplaceFunction = inplace_from_output(
    "CELU", lambda x, alpha: F.celu_(x, alpha), lambda y, alpha: torch.where(y > 0, 1.0, 1.0 + y / alpha)
)

def celu_(x: Tensor, alpha: float = 1.0) -> Tensor:
    return CELUInplaceFunction.apply(x, alpha)


class CELU(ActivationModule):
    params = (
        Param(
            "alpha",
            1.0,
            trainable=False,
            edge_values=(0.5, 2.0),
            doc="the negative saturation value is -alpha",
        ),
    )
    fn = staticmethod(celu)
    fn_inplace = staticmethod(celu_)


SPEC = register(Activation(
    name="celu", kind=Kind.FORMULA, formula="max(0, x) + min(0, alpha * (exp(x / alpha) - 1))",
    source="Barron 2017, arXiv:1704.07483", module=CELU, functional=celu, reference=F.celu,
    oracle="the built-in torch.nn.functional.celu", params=CELU.params, inplace=celu_,
    inplace_saves_training_memory=True, builtin=F.celu, builtin_name="torch.nn.functional.celu",
    properties=Properties(limits=(-1.0, math.inf), bounds=(-1.0, None), monotonic=True, smoothness=Smoothness.C1),
))
