"""Small pieces shared by the activation modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, cast

import torch
from torch import Tensor, nn

from acts.spec import Param


class Expm1Function(torch.autograd.Function):
    """expm1 whose derivative, exp(x), is computed from x. Autograd's own expm1 backward
    is ``grad * (result + 1)``, and that + 1 cancels for large negative x in float32
    (ELU's gradient at x = -29.6 came out 0). Backward and jvp are torch ops on x, so it
    is differentiable again; it has a generated vmap rule."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return torch.expm1(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * torch.exp(x)

    @staticmethod
    def jvp(ctx: Any, x_t: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return x_t * torch.exp(x)


def expm1(x: Tensor) -> Tensor:
    """``torch.expm1`` with the accurate derivative of :class:`Expm1Function`."""
    return cast(Tensor, Expm1Function.apply(x))


def sigmoid(u: Tensor) -> Tensor:
    """``torch.sigmoid``, as 1 - sigmoid(-u) above 0: autograd's derivative s (1 - s) then
    never takes 1 - s where s has rounded to 1 (it would be 0, not e^-u)."""
    return torch.where(u > 0, 1 - torch.sigmoid(-u), torch.sigmoid(u))


def tanh(u: Tensor) -> Tensor:
    """``torch.tanh``, as sign(u) (1 - 2 sigmoid(-2|u|)) beyond |u| = 1: autograd's
    derivative is then not 1 - tanh^2, which is 0 once tanh has rounded to +-1."""
    big = u.abs() >= 1
    return torch.where(big, torch.sign(u) * (1 - 2 * torch.sigmoid(-2 * u.abs())), torch.tanh(u))


def per_channel(p: Tensor | float, x: Tensor) -> Tensor | float:
    """View a parameter so it broadcasts over dimension 1 of ``x`` (``nn.PReLU``'s
    layout). A float or a one-element tensor broadcasts as it is."""
    if not isinstance(p, Tensor) or p.numel() == 1:
        return p.reshape(()) if isinstance(p, Tensor) else p
    if x.dim() < 2:
        if x.dim() == 1 and x.shape[0] == p.numel():
            return p  # a single sample of C features
        raise ValueError(f"a per-channel parameter of {p.numel()} channels needs an input with a channel dimension 1, got shape {tuple(x.shape)}")
    if x.shape[1] != p.numel():
        raise ValueError(f"input has {x.shape[1]} channels at dimension 1, the parameter {p.numel()}")
    return p.reshape((1, -1) + (1,) * (x.dim() - 2))


def channel_index(x: Tensor) -> Tensor:
    """The channel (dimension 1, or 0 for a 1-d input) index of every element of ``x``,
    shaped to broadcast against it."""
    dim = 1 if x.dim() >= 2 else 0
    if x.dim() == 0:
        return torch.zeros((), dtype=torch.long, device=x.device)
    idx = torch.arange(x.shape[dim], device=x.device)
    return idx.reshape((-1,) + (1,) * (x.dim() - dim - 1))


def reduce_to(grad: Tensor, param: Tensor) -> Tensor:
    """Sum a broadcast gradient back to the shape of the parameter it belongs to
    (a scalar, or C channels at dimension 1)."""
    if grad.shape == param.shape:
        return grad
    if param.numel() == 1:
        return grad.sum().reshape(param.shape)
    dims = [d for d in range(grad.dim()) if d != (1 if grad.dim() >= 2 else 0)]
    return grad.sum(dim=dims).reshape(param.shape)


class ActivationModule(nn.Module):
    """A thin ``nn.Module`` over a functional form, in the style of timm: it holds the
    parameters a spec declares (trainable ones as ``nn.Parameter``, fixed ones as
    floats) and an ``inplace`` flag, and calls the functional form."""

    params: ClassVar[tuple[Param, ...]] = ()
    fn: ClassVar[Callable[..., Tensor]]
    fn_inplace: ClassVar[Callable[..., Tensor] | None] = None

    def __init__(self, *, channels: int = 1, inplace: bool = False, **values: float) -> None:
        super().__init__()
        known = {p.name for p in self.params}
        unknown = set(values) - known
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown parameter(s) {sorted(unknown)}; it takes {sorted(known)}")
        if inplace and self.fn_inplace is None:
            raise TypeError(f"{type(self).__name__} has no in-place variant")
        if channels != 1 and not any(p.per_channel for p in self.params):
            raise TypeError(f"{type(self).__name__} has no per-channel parameter; channels must be 1")
        self.inplace = inplace
        self.channels = channels
        self._fixed: dict[str, float] = {}
        for p in self.params:
            value = float(values.get(p.name, p.default))
            if p.trainable:
                shape = (channels,) if p.per_channel else ()
                setattr(self, p.name, nn.Parameter(torch.full(shape, value)))
            else:
                self._fixed[p.name] = value

    def param_values(self) -> dict[str, Any]:
        return {p.name: self._fixed[p.name] if p.name in self._fixed else getattr(self, p.name) for p in self.params}

    def forward(self, x: Tensor) -> Tensor:
        inplace_fn = type(self).fn_inplace
        if self.inplace and inplace_fn is not None:
            return inplace_fn(x, **self.param_values())
        return type(self).fn(x, **self.param_values())

    def extra_repr(self) -> str:
        parts = [f"{k}={v:g}" for k, v in self._fixed.items()]
        if self.channels != 1:
            parts.append(f"channels={self.channels}")
        if self.inplace:
            parts.append("inplace=True")
        return ", ".join(parts)


def inplace_from_output(
    name: str,
    write: Callable[..., Tensor],
    slope: Callable[..., Tensor],
) -> type[torch.autograd.Function]:
    """An in-place variant whose derivative is recovered from its output.

    ``write(x, *params)`` overwrites ``x`` with f(x) and returns it; ``slope(y, *params)``
    is f'(x) computed from y = f(x) alone. The Function marks its input dirty and saves
    only the output, so the input's memory is free in training; its backward is built
    from torch ops, so it can be differentiated again.
    """

    def forward(x: Tensor, *params: Any) -> Tensor:
        return write(x, *params)

    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        ctx.mark_dirty(inputs[0])
        ctx.save_for_backward(output)
        ctx.params = inputs[1:]

    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        (y,) = ctx.saved_tensors
        return (grad_out * slope(y, *ctx.params), *(None for _ in ctx.params))

    return type(
        f"{name}InplaceFunction",
        (torch.autograd.Function,),
        {
            "forward": staticmethod(forward),
            "setup_context": staticmethod(setup_context),
            "backward": staticmethod(backward),
            "__doc__": inplace_from_output.__doc__,
        },
    )


def function_from_input(
    name: str,
    forward: Callable[[Tensor], Tensor],
    derivative: Callable[[Tensor], Tensor],
) -> type[torch.autograd.Function]:
    """A memory-lean elementwise Function in timm's style: it saves only its input and
    recomputes f'(x) = ``derivative(x)`` in the backward and in the ``jvp`` (forward-mode
    AD), with a generated vmap rule. The backward is built from torch ops on the saved
    tensor, so it can be differentiated again."""
    return _lean_function(name, forward, derivative, save_output=False)


def function_from_output(
    name: str,
    forward: Callable[[Tensor], Tensor],
    slope: Callable[[Tensor], Tensor],
) -> type[torch.autograd.Function]:
    """As :func:`function_from_input`, for a function whose derivative is recovered from
    its output, ``slope(y)``: it saves only the output."""
    return _lean_function(name, forward, slope, save_output=True)


def _lean_function(name: str, forward: Callable[[Tensor], Tensor], derivative: Callable[[Tensor], Tensor],
                   save_output: bool) -> type[torch.autograd.Function]:

    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        saved = output if save_output else inputs[0]
        ctx.save_for_backward(saved)
        ctx.save_for_forward(saved)

    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        (saved,) = ctx.saved_tensors
        return grad_out * derivative(saved)

    def jvp(ctx: Any, x_t: Tensor) -> Tensor:
        (saved,) = ctx.saved_tensors
        return x_t * derivative(saved)

    return type(
        f"{name}Function",
        (torch.autograd.Function,),
        {
            "generate_vmap_rule": True,
            "forward": staticmethod(forward),
            "setup_context": staticmethod(setup_context),
            "backward": staticmethod(backward),
            "jvp": staticmethod(jvp),
            "__doc__": (function_from_output if save_output else function_from_input).__doc__,
        },
    )
