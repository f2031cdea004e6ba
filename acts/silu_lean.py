"""Memory-lean SiLU / Swish-1: f(x) = x * sigmoid(x), saving only the input.

Elfwing, Uchibe & Doya, "Sigmoid-weighted linear units for neural network function
approximation in reinforcement learning", Neural Networks 107 (2018);
Ramachandran, Zoph & Le, "Searching for Activation Functions", arXiv:1710.05941 (2017).

The memory-efficient form of timm's ``activations_me``: autograd through
x * sigmoid(x) keeps both x and sigmoid(x) alive for the backward; this Function keeps
only x and recomputes s = sigmoid(x) there:

    f'(x) = s (1 + x (1 - s))

The backward is written in torch ops on the saved input, so autograd differentiates it
again (double backward, gradgradcheck) without a hand-written second derivative.

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
from acts.registry import register
from acts.silu import SILU_MIN
from acts.spec import Activation, Kind, Properties


def reference(x: Tensor) -> Tensor:
    # x * sigmoid(x) is -inf * 0 = NaN at -inf; the limit there is 0.
    return torch.where(x == -math.inf, 0.0, x * torch.sigmoid(x))


def _derivative(x: Tensor) -> Tensor:
    # 1 - s as sigmoid(-x): the difference cancels where s rounds to 1.
    return torch.sigmoid(x) * (1 + x * torch.sigmoid(-x))


SiLULeanFunction = function_from_input("SiLULean", lambda x: torch.where(x == -math.inf, 0.0, F.silu(x)), _derivative)

def silu_lean(x: Tensor) -> Tensor:
    return SiLULeanFunction.apply(x)


class SiLULean(ActivationModule):
    fn = staticmethod(silu_lean)


# saved_tensors: the input.
SPEC = register(Activation(
    name="silu_lean", kind=Kind.CUSTOM_BACKWARD,
    formula="x * sigmoid(x); backward s (1 + x (1 - s)) from the saved input",
    source="Elfwing et al. 2018, Neural Networks 107; Ramachandran et al. 2017, arXiv:1710.05941",
    module=SiLULean, functional=silu_lean, reference=reference,
    oracle="autograd through x * torch.sigmoid(x); the Function runs F.silu and its own backward",
    builtin=F.silu, builtin_name="torch.nn.functional.silu", saved_tensors=1,
    properties=Properties(limits=(0.0, math.inf), bounds=(SILU_MIN, None)),
))
