"""LeCun's scaled tanh with both constants trainable: f(x) = a * tanh(b x).

LeCun, Bottou, Orr & Müller, "Efficient BackProp", in Neural Networks: Tricks of the
Trade, LNCS 1524, Springer 1998 (section 4.4): a = 1.7159, b = 2/3, chosen so that
f(+-1) = +-1 and the second derivative is largest at x = +-1.

This is the two-parameter pattern of the common "custom activation" tutorial, a
Function applied as ``Function.apply(input, param1, param2)`` inside an ``nn.Module``
that holds the two parameters as ``nn.Parameter`` (here :class:`ScaledTanhFn`, through
:class:`acts._util.ActivationModule`), but with a backward that returns the true
gradients for both parameters where the tutorial returned ``None, None`` and silently
froze them. With t = tanh(b x):

    df/dx = a b (1 - t^2)      df/da = t      df/db = a x (1 - t^2)

each reduced to its parameter's shape (:func:`acts._util.reduce_to`). The Function
saves the input and the two scalars, and recomputes t in the backward, in torch ops, so
autograd differentiates it again with respect to all three. The output alone would not
do: a = 0 loses t, and t saturates to +-1 where x is still needed for df/db.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from acts._util import ActivationModule, reduce_to
from acts.registry import register
from acts.scaled_tanh import reference
from acts.spec import Activation, Kind, Param, Properties

A_LECUN = 1.7159
B_LECUN = 2.0 / 3.0


def _as_tensor(p: Tensor | float, x: Tensor) -> Tensor:
    """A parameter as a tensor of the input's dtype (the cast is tracked by autograd)."""
    if isinstance(p, Tensor):
        return p.to(dtype=x.dtype, device=x.device)
    return torch.tensor(p, dtype=x.dtype, device=x.device)


def _scaled_tanh(x: Tensor, a: Tensor, b: Tensor) -> Tensor:
    # b * x is 0 * inf = NaN at an infinite x when b = 0; tanh(0 x) is 0. The guard
    # touches only an infinite x, so the gradients at every finite x are untouched.
    bx = torch.where(torch.isinf(x) & (b == 0), 0.0, b * x)
    return a * torch.tanh(bx)


def _sech2(u: Tensor) -> Tensor:
    # 4 sigmoid(2u) sigmoid(-2u), not 1 - tanh^2, which is 0 once tanh rounds to +-1.
    return 4 * torch.sigmoid(2 * u) * torch.sigmoid(-2 * u)


class ScaledTanhFunction(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, a: Tensor, b: Tensor) -> Tensor:
        return _scaled_tanh(x, a.reshape(()), b.reshape(()))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor, Tensor], output: Tensor) -> None:
        x, a, b = inputs
        # x is input-sized; a and b are scalars.
        ctx.save_for_backward(x, a, b)
        ctx.save_for_forward(x, a, b)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        x, a, b = ctx.saved_tensors
        a0, b0 = a.reshape(()), b.reshape(())
        t, sech2 = torch.tanh(b0 * x), _sech2(b0 * x)
        grad_x = grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out * ((a0 * b0) * sech2)
        if ctx.needs_input_grad[1]:
            grad_a = reduce_to(grad_out * t, a)
        if ctx.needs_input_grad[2]:
            grad_b = reduce_to(grad_out * (a0 * (x * sech2)), b)
        return grad_x, grad_a, grad_b

    @staticmethod
    def jvp(ctx: Any, x_t: Tensor, a_t: Tensor | None, b_t: Tensor | None) -> Tensor:
        x, a, b = ctx.saved_tensors
        a0, b0 = a.reshape(()), b.reshape(())
        t, sech2 = torch.tanh(b0 * x), _sech2(b0 * x)
        out_t = x_t * ((a0 * b0) * sech2)
        if a_t is not None:
            out_t = out_t + a_t.reshape(()) * t
        if b_t is not None:
            out_t = out_t + b_t.reshape(()) * (a0 * (x * sech2))
        return out_t


def scaled_tanh_fn(x: Tensor, a: Tensor | float, b: Tensor | float) -> Tensor:
    return ScaledTanhFunction.apply(x, _as_tensor(a, x), _as_tensor(b, x))


class ScaledTanhFn(ActivationModule):
    params = (
        Param("a", A_LECUN, edge_values=(0.0, 1.0), doc="amplitude: the output lies in [-|a|, |a|]; 0 is the zero function"),
        Param("b", B_LECUN, edge_values=(0.0, -B_LECUN, 10.0), doc="slope at 0 over a; 0 is the zero function, negative flips the sign"),
    )
    fn = staticmethod(scaled_tanh_fn)


# saved_tensors: the input; the saved a and b are scalars.
SPEC = register(Activation(
    name="scaled_tanh_fn", kind=Kind.CUSTOM_BACKWARD, formula="a * tanh(b * x)",
    source="LeCun, Bottou, Orr & Müller 1998, Efficient BackProp, LNCS 1524", module=ScaledTanhFn,
    functional=scaled_tanh_fn, reference=reference,
    oracle="a tanh(b x), tanh through expm1, differentiated by autograd", params=ScaledTanhFn.params,
    saved_tensors=1,
    properties=Properties(limits=(-A_LECUN, A_LECUN), bounds=(-A_LECUN, A_LECUN), monotonic=True, parity="odd"),
))
