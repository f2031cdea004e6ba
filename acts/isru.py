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

from acts._util import ActivationModule
from acts.registry import register
from acts.spec import Activation, Kind, Param, Properties


def isru(x: Tensor, a: float = 1.0) -> Tensor:
    y = x / torch.hypot(torch.ones_like(x), math.sqrt(a) * x)
    # inf / inf is NaN; the limits are -+1 / sqrt(a).
    return torch.where(x.isinf(), x.sign() / math.sqrt(a), y)


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
        reference=isru,
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
