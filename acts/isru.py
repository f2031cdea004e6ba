"""ISRU, inverse square root unit: f(x) = x / sqrt(1 + a x^2).

Carlile, Delamarter, Kinney, Marti & Whitney, "Improving Deep Learning by Inverse Square
Root Linear Units (ISRLUs)", arXiv:1710.09967 (2017).

Beyond a x^2 = 1 the function is written sign(x) / sqrt(a + 1 / x^2): x^2 would
overflow float16 beyond |x| = 256, and autograd's derivative of the quotient there is a
difference of near-equal terms.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from acts import _oracle
from acts._util import ActivationModule
from acts.registry import register
from acts.spec import Activation, Kind, Param, Properties


def isru(x: Tensor, a: float = 1.0) -> Tensor:
    # The far branch also gives the limits +-1 / sqrt(a) at +-inf.
    big = x.abs() * math.sqrt(a) >= 1
    r, xs = 1 / torch.where(big, x, 1.0), torch.where(big, 0.0, x)
    return torch.where(big, torch.sign(x) * torch.rsqrt(a + r * r), xs * torch.rsqrt(1 + a * xs * xs))


def reference(x: Tensor, a: float = 1.0) -> Tensor:
    return _oracle.tanh(torch.asinh(math.sqrt(a) * x)) / math.sqrt(a)


class ISRU(ActivationModule):
    params = (Param("a", 1.0, trainable=False, doc="the output saturates at -+1 / sqrt(a)"),)
    fn = staticmethod(isru)


SPEC = register(Activation(
    name="isru", kind=Kind.FORMULA, formula="x / sqrt(1 + a x^2)",
    source="Carlile et al. 2017, arXiv:1710.09967", module=ISRU, functional=isru, reference=reference,
    oracle="tanh(asinh(sqrt(a) x)) / sqrt(a), tanh through expm1", params=ISRU.params,
    properties=Properties(limits=(-1.0, 1.0), bounds=(-1.0, 1.0), monotonic=True, parity="odd"),
))
