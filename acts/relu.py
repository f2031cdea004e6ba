"""ReLU as a hand-written ``autograd.Function``: f(x) = max(x, 0).

Nair & Hinton, "Rectified Linear Units Improve Restricted Boltzmann Machines",
ICML 2010; Glorot, Bordes & Bengio, "Deep Sparse Rectifier Neural Networks",
AISTATS 2011.

The pattern of PyTorch's "Defining new autograd Functions" tutorial (``MyReLU``), done
right: the backward builds a new tensor rather than writing into ``grad_output`` (which
autograd may hand to other nodes too), it is itself differentiable (a product of the
incoming gradient with a mask, so double backward works), and the Function has a
``jvp`` for forward-mode AD and a generated vmap rule.

The derivative is read from the output: y > 0 exactly where x > 0, so the Function
saves only the output, and the in-place variant (``ctx.mark_dirty``) saves nothing but
the tensor it overwrote, freeing the input in training. At the kink x = 0 the
derivative is 0, which lies in the subdifferential [0, 1] and matches ``torch.relu``.
A NaN input passes the incoming gradient through, as ``torch.relu`` does.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from acts._util import ActivationModule
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Properties, Smoothness


def _slope(y: Tensor) -> Tensor:
    """The derivative, recovered from the output: 1 where y > 0 (and at NaN, like
    ``torch.relu``), 0 where y = 0, the kink included."""
    return (y != 0).to(y.dtype)


class ReLUFunction(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x.clamp_min(0)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        # A new tensor, never a write into grad_out, which autograd may share.
        return grad_out * _slope(y)

    @staticmethod
    def jvp(ctx: Any, x_t: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return x_t * _slope(y)


class ReLUInplaceFunction(torch.autograd.Function):
    # No generated vmap rule: a Function that returns its (dirty) input and saves it
    # in setup_context is refused under torch.func transforms.

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x.clamp_min_(0)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        ctx.mark_dirty(inputs[0])
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return grad_out * _slope(y)

    @staticmethod
    def jvp(ctx: Any, x_t: Tensor) -> Tensor:
        # The input was modified in place, so its tangent is too.
        (y,) = ctx.saved_tensors
        return x_t.mul_(_slope(y))


def relu(x: Tensor) -> Tensor:
    return ReLUFunction.apply(x)


def relu_(x: Tensor) -> Tensor:
    return ReLUInplaceFunction.apply(x)


class ReLU(ActivationModule):
    fn = staticmethod(relu)
    fn_inplace = staticmethod(relu_)


# saved_tensors: the output.
SPEC = register(Activation(
    name="relu", kind=Kind.CUSTOM_BACKWARD, formula="max(x, 0)",
    source="Nair & Hinton 2010, ICML; Glorot, Bordes & Bengio 2011, AISTATS", module=ReLU, functional=relu,
    reference=torch.relu, oracle="the built-in torch.relu", inplace=relu_, inplace_saves_training_memory=True,
    builtin=torch.relu, builtin_name="torch.relu",
    kinks=(Kink(0.0, doc="derivative 0 at x = 0, as torch.relu"),), saved_tensors=1,
    properties=Properties(limits=(0.0, math.inf), bounds=(0.0, None), monotonic=True, smoothness=Smoothness.C0, gain=math.sqrt(2.0)),
))
