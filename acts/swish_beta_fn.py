"""Swish with a trainable beta, as a hand-written ``autograd.Function``:
f(x) = x * sigmoid(beta x).

Ramachandran, Zoph & Le, "Searching for Activation Functions", arXiv:1710.05941 (2017).

beta = 1 is SiLU, beta = 0 the line x / 2, beta -> inf ReLU; a negative beta mirrors
the curve (f(x; -beta) = x - f(x; beta)). With s = sigmoid(beta x):

    df/dx    = s (1 + beta x (1 - s))
    df/dbeta = x^2 s (1 - s)

The Function saves the input and beta (a scalar) and recomputes s in the backward, in
torch ops, so autograd differentiates it again with respect to both. 1 - s is
sigmoid(-beta x), which does not cancel where s rounds to 1, and df/dbeta is evaluated
as x (x (s (1 - s))) so that an underflowed s (1 - s) meets a finite x, never an
overflowed x^2 (inf * 0 = NaN in a half type).

At an infinite x the forward takes the limits where the formula meets 0 * inf: beta x
is 0 for beta = 0, and x s is 0 where s is 0 (x = -inf for beta > 0, x = +inf for
beta < 0).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from acts._util import ActivationModule, reduce_to
from acts.registry import register
from acts.silu import SILU_MIN
from acts.spec import Activation, Kind, Param, Properties
from acts.swish_beta import reference


def _as_tensor(p: Tensor | float, x: Tensor) -> Tensor:
    """A parameter as a tensor of the input's dtype (the cast is tracked by autograd)."""
    if isinstance(p, Tensor):
        return p.to(dtype=x.dtype, device=x.device)
    return torch.tensor(p, dtype=x.dtype, device=x.device)


def _swish(x: Tensor, beta: Tensor) -> Tensor:
    # Both guards touch only an infinite x, so the gradients at every finite x (with
    # respect to beta too, at beta = 0) are those of x * sigmoid(beta x).
    inf = torch.isinf(x)
    # beta * x is 0 * inf = NaN at an infinite x when beta = 0; sigmoid(0 x) is 1/2.
    s = torch.sigmoid(torch.where(inf & (beta == 0), 0.0, beta * x))
    # x * s is inf * 0 = NaN where s is 0 at an infinite x; the limit is 0.
    return torch.where(inf & (s == 0), 0.0, x * s)


def _sigmoids(x: Tensor, beta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    # 1 - s as sigmoid(-beta x): the difference cancels where s rounds to 1.
    bx = beta * x
    s, c = torch.sigmoid(bx), torch.sigmoid(-bx)
    return bx, s, c


class SwishBetaFunction(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, beta: Tensor) -> Tensor:
        return _swish(x, beta.reshape(()))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor], output: Tensor) -> None:
        x, beta = inputs
        # x is input-sized; beta is a scalar.
        ctx.save_for_backward(x, beta)
        ctx.save_for_forward(x, beta)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, beta = ctx.saved_tensors
        bx, s, c = _sigmoids(x, beta.reshape(()))
        grad_x = grad_beta = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out * (s * (1 + bx * c))
        if ctx.needs_input_grad[1]:
            grad_beta = reduce_to(grad_out * (x * (x * (s * c))), beta)
        return grad_x, grad_beta

    @staticmethod
    def jvp(ctx: Any, x_t: Tensor, beta_t: Tensor | None) -> Tensor:
        x, beta = ctx.saved_tensors
        bx, s, c = _sigmoids(x, beta.reshape(()))
        out_t = x_t * (s * (1 + bx * c))
        if beta_t is not None:
            out_t = out_t + beta_t.reshape(()) * (x * (x * (s * c)))
        return out_t


def swish_beta_fn(x: Tensor, beta: Tensor | float) -> Tensor:
    return SwishBetaFunction.apply(x, _as_tensor(beta, x))


class SwishBetaFn(ActivationModule):
    params = (
        Param(
            "beta",
            1.0,
            edge_values=(0.0, -1.0),
            doc="sharpness: 1 is SiLU, 0 the line x/2, negative mirrors the curve",
        ),
    )
    fn = staticmethod(swish_beta_fn)


# saved_tensors: the input; the saved beta is a scalar.
SPEC = register(Activation(
    name="swish_beta_fn", kind=Kind.CUSTOM_BACKWARD, formula="x * sigmoid(beta * x)",
    source="Ramachandran, Zoph & Le 2017, arXiv:1710.05941", module=SwishBetaFn, functional=swish_beta_fn,
    reference=reference, oracle="x exp(logsigmoid(beta x)), differentiated by autograd",
    params=SwishBetaFn.params, saved_tensors=1,
    properties=Properties(limits=(0.0, math.inf), bounds=(SILU_MIN, None)),
))
