"""ISRLU, inverse square root linear unit: f(x) = x for x >= 0, x / sqrt(1 + a x^2) below.

Carlile, Delamarter, Kinney, Marti & Whitney, "Improving Deep Learning by Inverse Square
Root Linear Units (ISRLUs)", arXiv:1710.09967 (2017).

Below 0, x / sqrt(1 + a x^2) = x - (a / 2) x^3 + O(x^5): the first and second
derivatives match the identity's (1 and 0) at 0, the third (-3a against 0) does not.
The function is C2, with no kink.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from acts import isru as _isru
from acts._util import ActivationModule
from acts.isru import isru
from acts.registry import register
from acts.spec import Activation, Kind, Param, Properties, Smoothness


def isrlu(x: Tensor, a: float = 1.0) -> Tensor:
    return torch.where(x >= 0, x, isru(x, a))


def reference(x: Tensor, a: float = 1.0) -> Tensor:
    return torch.where(x >= 0, x, _isru.reference(x, a))


class ISRLU(ActivationModule):
    params = (Param("a", 1.0, trainable=False, doc="the output saturates at -1 / sqrt(a)"),)
    fn = staticmethod(isrlu)


SPEC = register(Activation(
    name="isrlu", kind=Kind.FORMULA, formula="x (x >= 0); x / sqrt(1 + a x^2) (x < 0)",
    source="Carlile et al. 2017, arXiv:1710.09967", module=ISRLU, functional=isrlu, reference=reference,
    oracle="x, and ISRU's oracle tanh(asinh(sqrt(a) x)) / sqrt(a) below 0", params=ISRLU.params,
    properties=Properties(limits=(-1.0, math.inf), bounds=(-1.0, None), monotonic=True, smoothness=Smoothness.C2),
))
