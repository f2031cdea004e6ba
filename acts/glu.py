"""Gated linear units: the features split into halves, a, b = x.chunk(2, dim=-1), and
one half gates the other.

    GLU     a * sigmoid(b)     Dauphin, Fan, Auli & Grangier, "Language Modeling with
                               Gated Convolutional Networks", ICML 2017
    ReGLU   relu(a) * b        Shazeer, "GLU Variants Improve Transformer",
    GeGLU   gelu(a) * b        arXiv:2002.05202 (2020)
    SwiGLU  silu(a) * b

The halves are taken along the last dimension, as every transformer feed-forward block
takes them (``w1(x)`` and ``w3(x)`` fused into one projection); the output is half as
wide as the input. GLU follows ``torch.nn.functional.glu`` (the second half is the
gate); the variants follow the paper and transformers' ``*GLU`` blocks (the first half
goes through the activation).

``swiglu_fn`` is SwiGLU as a fused ``autograd.Function``, the form kernel libraries
write: it saves only the input and recomputes s = sigmoid(a) in the backward,

    d/da = b s (1 + a (1 - s)),    d/db = a s,

in torch ops, so autograd differentiates it again. 1 - s is sigmoid(-a), which does not
cancel where s rounds to 1.

Each spec's facts on the real line (``kinks``, ``properties``) are those of its first
half's view, f(a, b = 1): ReGLU's kink at a = 0 (see ``Activation.layout``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from acts import gelu as _gelu
from acts import silu as _silu
from acts._util import ActivationModule, sigmoid
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Properties, Smoothness

GATED = "gated:-1"


def glu(x: Tensor) -> Tensor:
    # float16 in float32: sigmoid(b) underflows float16 below b = -16.6, where a times
    # it (a = 5000) is still 1e-4.
    if x.dtype == torch.float16:
        return glu(x.float()).to(x.dtype)
    a, b = x.chunk(2, dim=-1)
    return a * sigmoid(b)


def reglu(x: Tensor) -> Tensor:
    a, b = x.chunk(2, dim=-1)
    return F.relu(a) * b


def _times_b(gate: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """gate(a) * b. The chain rule through a gate of the form a g(a) carries the
    incoming gradient times a b, the output's size, into g's derivative: where the
    output overflows float16 (a = b = 256) that product is inf, and inf times g' = 0 is
    a NaN gradient, though both true partials are finite. float16 is computed in
    float32, as torch's own half kernels compute."""
    if x.dtype == torch.float16:
        return _times_b(gate, x.float()).to(x.dtype)
    a, b = x.chunk(2, dim=-1)
    return gate(a) * b


def geglu(x: Tensor) -> Tensor:
    return _times_b(_gelu.gelu, x)


def swiglu(x: Tensor) -> Tensor:
    return _times_b(_silu.silu, x)


# -- the oracles: each half's function computed another way ----------------------------------
def glu_reference(x: Tensor) -> Tensor:
    a, b = _halves(x)
    return a * torch.exp(F.logsigmoid(b))


def reglu_reference(x: Tensor) -> Tensor:
    a, b = _halves(x)
    return torch.where(a > 0, a, torch.zeros_like(a)) * b


def geglu_reference(x: Tensor) -> Tensor:
    a, b = _halves(x)
    return _gelu.reference(a) * b


def swiglu_reference(x: Tensor) -> Tensor:
    a, b = _halves(x)
    return _silu.reference(a) * b


def _halves(x: Tensor) -> tuple[Tensor, Tensor]:
    """a and b as index selections of the last dimension (not ``chunk``'s views)."""
    n = x.shape[-1] // 2
    idx = torch.arange(x.shape[-1], device=x.device)
    return x.index_select(-1, idx[:n]), x.index_select(-1, idx[n:])


# -- the fused SwiGLU ----------------------------------------------------------------------
def _swiglu_partials(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """(d/da, d/db) of silu(a) * b, from the saved input alone; float16 in float32, where
    sigmoid(a) does not underflow before b times it."""
    if a.dtype == torch.float16:
        return tuple(d.to(a.dtype) for d in _swiglu_partials(a.float(), b.float()))  # type: ignore[return-value]
    s = torch.sigmoid(a)
    return b * (s * (1 + a * torch.sigmoid(-a))), _silu.silu(a)


class SwiGLUFunction(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return swiglu(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        da, db = _swiglu_partials(*x.chunk(2, dim=-1))
        return torch.cat([grad_out * da, grad_out * db], dim=-1)

    @staticmethod
    def jvp(ctx: Any, x_t: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        da, db = _swiglu_partials(*x.chunk(2, dim=-1))
        a_t, b_t = x_t.chunk(2, dim=-1)
        return a_t * da + b_t * db


def swiglu_fn(x: Tensor) -> Tensor:
    return SwiGLUFunction.apply(x)


class GLU(ActivationModule):
    fn = staticmethod(glu)


class ReGLU(ActivationModule):
    fn = staticmethod(reglu)


class GeGLU(ActivationModule):
    fn = staticmethod(geglu)


class SwiGLU(ActivationModule):
    fn = staticmethod(swiglu)


class SwiGLUFn(ActivationModule):
    fn = staticmethod(swiglu_fn)


def _glu_builtin(x: Tensor) -> Tensor:
    return F.glu(x, dim=-1)


SHAZEER = "Shazeer 2020, arXiv:2002.05202"

register(Activation(
    name="glu", kind=Kind.FORMULA, formula="a * sigmoid(b), a, b = x.chunk(2, dim=-1)",
    source="Dauphin et al. 2017, ICML", module=GLU, functional=glu, reference=glu_reference,
    oracle="a exp(logsigmoid(b)), differentiated by autograd", builtin=_glu_builtin,
    builtin_name="torch.nn.functional.glu(x, dim=-1)", layout=GATED, elementwise=False,
    properties=Properties(limits=(-math.inf, math.inf), monotonic=True, parity="odd"),
))
register(Activation(
    name="reglu", kind=Kind.FORMULA, formula="relu(a) * b, a, b = x.chunk(2, dim=-1)", source=SHAZEER,
    module=ReGLU, functional=reglu, reference=reglu_reference, oracle="where(a > 0, a, 0) * b",
    kinks=(Kink(0.0, doc="relu's corner in a"),), layout=GATED, elementwise=False,
    properties=Properties(limits=(0.0, math.inf), bounds=(0.0, None), monotonic=True, smoothness=Smoothness.C0),
))
register(Activation(
    name="geglu", kind=Kind.FORMULA, formula="gelu(a) * b, a, b = x.chunk(2, dim=-1)", source=SHAZEER,
    module=GeGLU, functional=geglu, reference=geglu_reference,
    oracle="a Phi(a) b, Phi through torch.special.erfcx times exp(-a^2 / 2) (acts.gelu's reference)",
    layout=GATED, elementwise=False,
    properties=Properties(limits=(0.0, math.inf), bounds=(_gelu.GELU_MIN, None)),
))
register(Activation(
    name="swiglu", kind=Kind.FORMULA, formula="silu(a) * b, a, b = x.chunk(2, dim=-1)", source=SHAZEER,
    module=SwiGLU, functional=swiglu, reference=swiglu_reference,
    oracle="a exp(logsigmoid(a)) b (acts.silu's reference)", layout=GATED, elementwise=False,
    properties=Properties(limits=(0.0, math.inf), bounds=(_silu.SILU_MIN, None)),
))
# saved_tensors: the input.
register(Activation(
    name="swiglu_fn", kind=Kind.CUSTOM_BACKWARD,
    formula="silu(a) * b as a Function; backward b s (1 + a (1 - s)) and a s from the saved input",
    source=SHAZEER, module=SwiGLUFn, functional=swiglu_fn, reference=swiglu_reference,
    oracle="a exp(logsigmoid(a)) b (acts.silu's reference)", saved_tensors=1, layout=GATED, elementwise=False,
    properties=Properties(limits=(0.0, math.inf), bounds=(_silu.SILU_MIN, None)),
))
