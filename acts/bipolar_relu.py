"""Bipolar ReLU: ReLU on even channels, its mirror image on odd channels.

    f(x)_c = max(x_c, 0)    c even
             min(x_c, 0)    c odd

Eidnes & Nøkland, "Shifting Mean Activation Towards Zero with Bipolar Activation
Functions", ICLR 2018 workshop, arXiv:1709.04054.

The alternation runs over the channel (feature) index, dimension 1, never over the
batch: each sample sees the same function. A hand-written ``autograd.Function``: the
derivative is recovered from the output alone (y != 0 exactly where the active side
is taken), so the in-place variant saves nothing but the output and really frees the
input in training. At the kink the derivative is 0 on both channel kinds, which lies
in the subdifferential ([0, 1]) and matches ``torch.relu``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from acts._util import ActivationModule, channel_index, function_from_output, inplace_from_output
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Properties, Smoothness


def reference(x: Tensor) -> Tensor:
    even = channel_index(x) % 2 == 0
    return torch.where(even, torch.relu(x), -torch.relu(-x))


def _forward(x: Tensor) -> Tensor:
    even = channel_index(x) % 2 == 0
    return torch.where(even, x.clamp(min=0), x.clamp(max=0))


def _active(y: Tensor) -> Tensor:
    """Where the derivative is 1, recovered from the output."""
    return (y != 0).to(y.dtype)


BipolarReLUFunction = function_from_output("BipolarReLU", _forward, _active)


def _write(x: Tensor) -> Tensor:
    # Clamp the even and the odd channels in place through strided views: no
    # temporary the size of the input, so the input's memory is really reused.
    if x.dim() == 0:
        return x.clamp_(min=0)
    lead = (slice(None),) * (1 if x.dim() >= 2 else 0)
    x[(*lead, slice(0, None, 2))].clamp_(min=0)
    x[(*lead, slice(1, None, 2))].clamp_(max=0)
    return x


BipolarReLUInplaceFunction = inplace_from_output("BipolarReLU", _write, _active)


def bipolar_relu(x: Tensor) -> Tensor:
    return BipolarReLUFunction.apply(x)


def bipolar_relu_(x: Tensor) -> Tensor:
    return BipolarReLUInplaceFunction.apply(x)


class BipolarReLU(ActivationModule):
    fn = staticmethod(bipolar_relu)
    fn_inplace = staticmethod(bipolar_relu_)


# The limits and bounds are channel 0's (even); the odd channels give (-inf, 0).
SPEC = register(Activation(
    name="bipolar_relu", kind=Kind.CUSTOM_BACKWARD,
    formula="max(x, 0) on even channels, min(x, 0) on odd channels",
    source="Eidnes & Nøkland 2018, arXiv:1709.04054", module=BipolarReLU, functional=bipolar_relu,
    reference=reference, oracle="the built-in torch.relu on even channels, -relu(-x) on odd ones",
    inplace=bipolar_relu_, inplace_saves_training_memory=True, kinks=(Kink(0.0),), saved_tensors=1,
    channelwise=True, properties=Properties(limits=(0.0, math.inf), monotonic=True, smoothness=Smoothness.C0),
))
