"""Leaky ReLU: f(x) = x for x > 0, negative_slope * x for x <= 0.

Maas, Hannun & Ng, "Rectifier Nonlinearities Improve Neural Network Acoustic Models",
ICML 2013 Workshop on Deep Learning for Audio, Speech and Language Processing.

With a positive slope the output has the sign of the input, so the in-place variant
recovers the derivative from the output alone. At the kink the gradient is the
slope, on both variants, as torch's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, inplace_from_output
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Param, Properties, Smoothness


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return torch.where(x > 0, x, x * negative_slope)


# torch's in-place kernel writes the result with no temporary, so the input's memory
# is really reused; the derivative comes from the output.
LeakyReLUInplaceFunction = inplace_from_output(
    "LeakyReLU",
    lambda x, slope: F.leaky_relu_(x, slope),
    # A tensor slope: torch.where over two Python floats would give float32.
    lambda y, slope: torch.where(y > 0, 1.0, y.new_full((), slope)),
)

def leaky_relu_(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    if negative_slope <= 0:
        raise ValueError("the in-place leaky ReLU needs a positive slope to read the side from the output")
    return LeakyReLUInplaceFunction.apply(x, negative_slope)


class LeakyReLU(ActivationModule):
    params = (Param("negative_slope", 0.01, trainable=False, edge_values=(0.2,), doc="slope below 0"),)
    fn = staticmethod(leaky_relu)
    fn_inplace = staticmethod(leaky_relu_)


SPEC = register(Activation(
    name="leaky_relu", kind=Kind.FORMULA, formula="x (x > 0); negative_slope * x (x <= 0)",
    source="Maas et al. 2013, ICML WDLASL", module=LeakyReLU, functional=leaky_relu, reference=F.leaky_relu,
    oracle="the built-in torch.nn.functional.leaky_relu", params=LeakyReLU.params, inplace=leaky_relu_,
    inplace_saves_training_memory=True, kinks=(Kink(0.0),), builtin=F.leaky_relu,
    builtin_name="torch.nn.functional.leaky_relu",
    properties=Properties(limits=(-math.inf, math.inf), monotonic=True, smoothness=Smoothness.C0),
))
