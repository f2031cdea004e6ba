"""Hard swish: f(x) = x * relu6(x + 3) / 6.

Howard et al., "Searching for MobileNetV3", ICCV 2019, arXiv:1905.02244.

The derivative jumps from 0 to -1/2 at x = -3 and from 3/2 to 1 at x = 3. At the kinks
the gradient through the clamp takes the inner side (-1/2 and 3/2): a valid subgradient,
but not torch 2.13's convention (F.hardswish gives the outer sides, 0 and 1); the
`kinks` check reports the difference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Properties, Smoothness


def hardswish(x: Tensor) -> Tensor:
    # -inf * relu6(-inf) is -inf * 0 = NaN (torch's hardswish gives NaN there); the
    # limit is 0.
    return torch.where(x == -math.inf, 0.0, x * ((x + 3).clamp(0, 6) / 6))


def reference(x: Tensor) -> Tensor:
    return torch.where(x <= -3, 0.0, torch.where(x >= 3, x, x * (x + 3) / 6))


class HardSwish(ActivationModule):
    fn = staticmethod(hardswish)


# The lower bound -3/8 is f(-3/2).
SPEC = register(Activation(
    name="hardswish", kind=Kind.FORMULA, formula="x * min(max(x + 3, 0), 6) / 6",
    source="Howard et al. 2019, ICCV, arXiv:1905.02244", module=HardSwish, functional=hardswish,
    reference=reference, oracle="the pieces 0, x (x + 3) / 6, x", kinks=(Kink(-3.0), Kink(3.0)),
    builtin=F.hardswish, builtin_name="torch.nn.functional.hardswish",
    properties=Properties(limits=(0.0, math.inf), bounds=(-0.375, None), smoothness=Smoothness.C0),
))
