"""PReLU as a hand-written ``autograd.Function`` with a per-channel weight.

    f(x)_c = x_c          x_c > 0
             a_c x_c      x_c <= 0

He, Zhang, Ren & Sun, "Delving Deep into Rectifiers: Surpassing Human-Level Performance
on ImageNet Classification", ICCV 2015, arXiv:1502.01852.

The weight has ``nn.PReLU``'s layout: C values broadcast over dimension 1 of the input
(dimension 0 of a 1-d input of C features), or a single value for every element. The
Function takes the weight as it is held, broadcasts it in the forward and sums its
gradient back to that shape in the backward (:func:`acts._util.reduce_to`), over the
batch and every spatial dimension, or over everything for a one-element weight.

    df/dx = 1 (x > 0), a (x <= 0)        df/da = 0 (x > 0), x (x <= 0)

At the kink x = 0 the derivative is a, the slope of the left piece (for a = 0 that is
ReLU's 0); it lies in the subdifferential [min(a, 1), max(a, 1)] and matches
``torch.nn.functional.prelu``. A NaN input takes the left piece, as torch's does.

The Function saves the input and the weight; the weight is parameter-sized (C values),
so one input-sized tensor is kept. The backward is torch ops on both, so autograd
differentiates it again, with respect to the weight too. No in-place variant: the
weight gradient needs x, which the output loses where a = 0.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, per_channel, reduce_to
from acts.prelu import reference
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Param, Properties, Smoothness


def _as_tensor(p: Tensor | float, x: Tensor) -> Tensor:
    """A parameter as a tensor of the input's dtype (the cast is tracked by autograd)."""
    if isinstance(p, Tensor):
        return p.to(dtype=x.dtype, device=x.device)
    return torch.tensor(p, dtype=x.dtype, device=x.device)


def _left(x: Tensor, w: Tensor | float) -> Tensor:
    # a x is 0 * -inf = NaN at x = -inf when a = 0; the limit there is 0.
    wx = w * x
    return torch.where((x == -math.inf) & (w == 0), 0.0, wx)


class PReLUFunction(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, weight: Tensor) -> Tensor:
        return torch.where(x > 0, x, _left(x, per_channel(weight, x)))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor], output: Tensor) -> None:
        x, weight = inputs
        # x is input-sized; the weight is parameter-sized (C values, or one).
        ctx.save_for_backward(x, weight)
        ctx.save_for_forward(x, weight)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, weight = ctx.saved_tensors
        pos = x > 0
        grad_x = grad_out * torch.where(pos, 1.0, per_channel(weight, x)) if ctx.needs_input_grad[0] else None
        grad_w = reduce_to(grad_out * torch.where(pos, 0.0, x), weight) if ctx.needs_input_grad[1] else None
        return grad_x, grad_w

    @staticmethod
    def jvp(ctx: Any, x_t: Tensor, weight_t: Tensor | None) -> Tensor:
        x, weight = ctx.saved_tensors
        pos = x > 0
        out_t = x_t * torch.where(pos, 1.0, per_channel(weight, x))
        if weight_t is not None:
            out_t = out_t + torch.where(pos, 0.0, x) * per_channel(weight_t, x)
        return out_t


def prelu_fn(x: Tensor, weight: Tensor | float) -> Tensor:
    return PReLUFunction.apply(x, _as_tensor(weight, x))


def builtin(x: Tensor, weight: Tensor | float) -> Tensor:
    """``torch.nn.functional.prelu``, which wants the weight as a tensor of the input's
    dtype."""
    return F.prelu(x, _as_tensor(weight, x).reshape(-1))


class PReLUFn(ActivationModule):
    params = (
        Param(
            "weight",
            0.25,
            per_channel=True,
            edge_values=(0.0, 1.0, -1.0),
            doc="slope for x <= 0: 0 is ReLU, 1 the identity, -1 the absolute value",
        ),
    )
    fn = staticmethod(prelu_fn)


# saved_tensors: the input; the saved weight is parameter-sized.
SPEC = register(Activation(
    name="prelu_fn", kind=Kind.CUSTOM_BACKWARD, formula="x (x > 0); a_c x (x <= 0), a per channel",
    source="He et al. 2015, ICCV, arXiv:1502.01852", module=PReLUFn, functional=prelu_fn, reference=reference,
    oracle="max(0, x) + a min(0, x) through torch.relu, differentiated by autograd", params=PReLUFn.params,
    builtin=builtin, builtin_name="torch.nn.functional.prelu",
    kinks=(Kink(0.0, doc="derivative a at x = 0 (left piece), as torch"),), saved_tensors=1,
    properties=Properties(limits=(-math.inf, math.inf), monotonic=True, smoothness=Smoothness.C0),
))
