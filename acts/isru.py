"""ISRU, inverse square root unit: f(x) = x / sqrt(1 + a x^2).

Carlile, Delamarter, Kinney, Marti & Whitney, "Improving Deep Learning by Inverse Square
Root Linear Units (ISRLUs)", arXiv:1710.09967 (2017).

sqrt(1 + a x^2) is hypot(1, sqrt(a) x), which does not overflow where x^2 would
(float16 beyond |x| = 256).
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
    # Beyond a x^2 = 1 as sign(x) / sqrt(a + 1 / x^2): autograd's derivative of
    # x / sqrt(1 + a x^2) is there a difference of near-equal terms, and x^2 would
    # overflow. It also gives the limits +-1 / sqrt(a) at +-inf.
    big = x.abs() * math.sqrt(a) >= 1
    r, xs = 1 / torch.where(big, x, 1.0), torch.where(big, 0.0, x)
    return torch.where(big, torch.sign(x) * torch.rsqrt(a + r * r), xs * torch.rsqrt(1 + a * xs * xs))


def reference(x: Tensor, a: float = 1.0) -> Tensor:
    return _oracle.tanh(torch.asinh(math.sqrt(a) * x)) / math.sqrt(a)


class ISRU(ActivationModule):
    params = (Param("a", 1.0, trainable=False, doc="the output saturates at -+1 / sqrt(a)"),)
    fn = staticmethod(isru)


SPEC = register(
    Activation(
        name="isru",
        kind=Kind.FORMULA,
        formula="x / sqrt(1 + a x^2)",
        source="Carlile et al. 2017, arXiv:1710.09967",
        module=ISRU,
        functional=isru,
        reference=reference,
        oracle="tanh(asinh(sqrt(a) x)) / sqrt(a), tanh through expm1",
        params=ISRU.params,
        properties=Properties(
            limits=(-1.0, 1.0),
            value_at_zero=0.0,
            bounds=(-1.0, 1.0),
            monotonic=True,
            parity="odd",
        ),
    )
)
