"""SiLU / Swish-1 as a ``torch.library`` custom operator: f(x) = x * sigmoid(x).

Elfwing, Uchibe & Doya, "Sigmoid-weighted linear units for neural network function
approximation in reinforcement learning", Neural Networks 107 (2018);
Ramachandran, Zoph & Le, "Searching for Activation Functions", arXiv:1710.05941 (2017).

The form kernel libraries give a fused kernel: an operator ``acts::silu`` with its
schema, a fake kernel (the output's shape, strides and dtype, without computing it: what
``torch.compile`` traces with) and an autograd formula registered on the operator, so
that eager, compiled and exported code all see one opaque op. The backward saves only
the input and recomputes s = sigmoid(x):

    f'(x) = s (1 + x (1 - s))

in torch ops, so autograd differentiates it again (double backward).

The operator is registered once per process: importing this file a second time (as a
file target beside the package) finds it in ``torch.ops``. On torch without
``torch.library.custom_op`` (before 2.4) nothing is registered.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from acts._util import ActivationModule
from acts.registry import register
from acts.silu import SILU_MIN, reference
from acts.spec import Activation, Kind, Properties

NAMESPACE = "acts"


def _forward(x: Tensor) -> Tensor:
    # x * sigmoid(x) is -inf * 0 = NaN at -inf; the limit there is 0.
    return torch.where(x == -math.inf, 0.0, x * torch.sigmoid(x))


def _derivative(x: Tensor) -> Tensor:
    # 1 - s as sigmoid(-x): the difference cancels where s rounds to 1.
    return torch.sigmoid(x) * (1 + x * torch.sigmoid(-x))


def _setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
    ctx.save_for_backward(inputs[0])


def _backward(ctx: Any, grad: Tensor) -> Tensor:
    (x,) = ctx.saved_tensors
    return grad * _derivative(x)


def _define() -> None:
    """Register ``acts::silu`` with its fake kernel and autograd formula, unless this
    process already has it."""
    try:
        getattr(torch.ops.acts, "silu")  # noqa: B009 (a lookup that registers nothing)
        return
    except AttributeError:
        pass
    op = torch.library.custom_op(f"{NAMESPACE}::silu", _forward, mutates_args=())
    op.register_fake(lambda x: torch.empty_like(x))
    op.register_autograd(_backward, setup_context=_setup_context)


def silu_op(x: Tensor) -> Tensor:
    return torch.ops.acts.silu(x)


class SiLUOp(ActivationModule):
    fn = staticmethod(silu_op)


SPEC: Activation | None = None
if hasattr(torch.library, "custom_op"):
    _define()
    # saved_tensors: the input.
    SPEC = register(Activation(
        name="silu_op", kind=Kind.CUSTOM_BACKWARD,
        formula="x * sigmoid(x) as the custom operator acts::silu; backward s (1 + x (1 - s)) from the saved input",
        source="Elfwing et al. 2018, Neural Networks 107; Ramachandran et al. 2017, arXiv:1710.05941",
        module=SiLUOp, functional=silu_op, reference=reference,
        oracle="x exp(logsigmoid(x)), differentiated by autograd (acts.silu's reference)",
        builtin=torch.nn.functional.silu, builtin_name="torch.nn.functional.silu", saved_tensors=1,
        properties=Properties(limits=(0.0, math.inf), bounds=(SILU_MIN, None)),
    ))
