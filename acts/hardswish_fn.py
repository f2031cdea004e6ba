"""Hard-swish as a hand-written ``autograd.Function``: f(x) = x * relu6(x + 3) / 6.

Howard et al., "Searching for MobileNetV3", ICCV 2019, arXiv:1905.02244.

    f(x) = 0                 x <= -3
           x (x + 3) / 6     -3 < x < 3
           x                 x >= 3

    f'(x) = 0                x <= -3
            x / 3 + 1/2      -3 < x < 3
            1                x >= 3

The derivative jumps at both kinks: from 0 to -1/2 at x = -3 and from 3/2 to 1 at
x = 3. The convention here takes the outer piece at each kink, f'(-3) = 0 and
f'(3) = 1: both lie in the Clarke subdifferential ([-1/2, 0] and [1, 3/2]) and match
``torch.nn.functional.hardswish``'s backward as of torch 2.13 (checked), whose interior
piece is the open interval. Torch 2.6 and earlier took the closed interval and returned
-1/2 and 3/2, also in the subdifferential (pytorch/pytorch issue 147801); so do the
oracle's pieces through autograd. A NaN input passes the incoming gradient through, as
torch's does.

The Function saves only the input; the backward is torch ops on it, so autograd
differentiates it again (f'' = 1/3 on the interior piece). No in-place variant: f is
not monotonic on (-3, 0), so the derivative cannot be recovered from the output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, function_from_input
from acts.hardswish import reference
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Properties, Smoothness

# The minimum, at x = -3/2.
HARDSWISH_MIN = -0.375


def _derivative(x: Tensor) -> Tensor:
    # Outer piece at each kink (x = -3 gives 0, x = 3 gives 1), as torch.
    return torch.where(x <= -3, 0.0, torch.where(x < 3, x / 3 + 0.5, 1.0))


def _hardswish(x: Tensor) -> Tensor:
    # clamp keeps x + 3 in [0, 6], so x * (x + 3) never overflows a half type for
    # |x| <= 1e4; the guard turns -inf * 0 into the limit 0.
    return torch.where(x == -math.inf, 0.0, x * (x + 3).clamp(0, 6) / 6)


HardSwishFunction = function_from_input("HardSwish", _hardswish, _derivative)

def hardswish_fn(x: Tensor) -> Tensor:
    return HardSwishFunction.apply(x)


class HardSwishFn(ActivationModule):
    fn = staticmethod(hardswish_fn)


# saved_tensors: the input.
SPEC = register(Activation(
    name="hardswish_fn", kind=Kind.CUSTOM_BACKWARD, formula="x * relu6(x + 3) / 6",
    source="Howard et al. 2019, ICCV, arXiv:1905.02244", module=HardSwishFn, functional=hardswish_fn,
    reference=reference, oracle="the pieces 0, x (x + 3) / 6, x, differentiated by autograd",
    builtin=F.hardswish, builtin_name="torch.nn.functional.hardswish",
    kinks=(
            Kink(-3.0, doc="derivative jumps 0 -> -1/2; f'(-3) = 0, as torch"),
            Kink(3.0, doc="derivative jumps 3/2 -> 1; f'(3) = 1, as torch"),
    ),
    saved_tensors=1,
    properties=Properties(limits=(0.0, math.inf), bounds=(HARDSWISH_MIN, None), smoothness=Smoothness.C0),
))
