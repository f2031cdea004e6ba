"""Memory-lean Mish: f(x) = x * tanh(softplus(x)), saving only the input.

Misra, "Mish: A Self Regularized Non-Monotonic Activation Function", BMVC 2020,
arXiv:1908.08681.

The memory-efficient form of timm's ``activations_me``: autograd through the formula
keeps several input-sized intermediates (softplus, tanh, ...) for the backward; this
Function keeps only x and recomputes, with t = tanh(softplus(x)) and s = sigmoid(x)
(the derivative of softplus):

    f'(x) = t + x s (1 - t^2)

The backward is written in torch ops on the saved input, so autograd differentiates it
again (double backward, gradgradcheck). Every factor stays finite for finite x: at
large |x| either s or 1 - t^2 underflows to 0 while x stays finite.

No in-place variant: f is not monotonic, so the derivative cannot be recovered from the
output, and an in-place form would have to keep a copy of the input for training,
saving nothing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, function_from_input
from acts.mish import reference
from acts.registry import register
from acts.spec import Activation, Kind, Properties

# The minimum of Mish, at x = -1.19243121451549521 (mpmath, 30 digits).
MISH_MIN = -0.30884341301725041


def _mish(x: Tensor) -> Tensor:
    # x * tanh(softplus(x)) is -inf * 0 = NaN at -inf; the limit there is 0.
    return torch.where(x == -math.inf, 0.0, x * torch.tanh(F.softplus(x)))


def _derivative(x: Tensor) -> Tensor:
    t = torch.tanh(F.softplus(x))
    s = torch.sigmoid(x)
    return t + x * s * (1 - t * t)


MishLeanFunction = function_from_input("MishLean", _mish, _derivative)

def mish_lean(x: Tensor) -> Tensor:
    return MishLeanFunction.apply(x)


class MishLean(ActivationModule):
    fn = staticmethod(mish_lean)


# saved_tensors: the input.
SPEC = register(Activation(
    name="mish_lean", kind=Kind.CUSTOM_BACKWARD,
    formula="x * tanh(softplus(x)); backward t + x sigmoid(x) (1 - t^2) from the saved input",
    source="Misra 2020, BMVC, arXiv:1908.08681", module=MishLean, functional=mish_lean, reference=reference,
    oracle="Mish's oracle x n / (n + 2), n = e^x (e^x + 2), differentiated by autograd", builtin=F.mish,
    builtin_name="torch.nn.functional.mish", saved_tensors=1,
    properties=Properties(limits=(0.0, math.inf), bounds=(MISH_MIN, None)),
))
