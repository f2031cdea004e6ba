"""GELU, exact (erf) form: f(x) = x * Phi(x) = x * erfc(-x / sqrt(2)) / 2.

Hendrycks & Gimpel, "Gaussian Error Linear Units (GELUs)", arXiv:1606.08415 (2016).

Phi is written with erfc rather than as (1 + erf(x / sqrt(2))) / 2, the form
``torch.nn.functional.gelu`` uses: for x below about -8 the latter cancels to exactly 0,
while erfc keeps the tiny true value. The two agree to within 1e-16 absolutely.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from acts import _oracle
from acts._util import ActivationModule
from acts.registry import register
from acts.spec import Activation, Kind, Properties

# The minimum of x * Phi(x), at x = -0.75179152469356445746.
GELU_MIN = -0.16997120747990366


def gelu(x: Tensor) -> Tensor:
    # -inf * Phi(-inf) is -inf * 0 = NaN; the limit there is 0.
    return torch.where(x == -math.inf, 0.0, 0.5 * x * torch.special.erfc(-x * math.sqrt(0.5)))


def reference(x: Tensor) -> Tensor:
    return torch.where(x == -math.inf, 0.0, x * _oracle.phi(x))


class GELU(ActivationModule):
    fn = staticmethod(gelu)


SPEC = register(Activation(
    name="gelu", kind=Kind.FORMULA, formula="x * Phi(x) = x * erfc(-x / sqrt(2)) / 2",
    source="Hendrycks & Gimpel 2016, arXiv:1606.08415", module=GELU, functional=gelu, reference=reference,
    oracle="x Phi(x), Phi through torch.special.erfcx times exp(-x^2 / 2)", builtin=F.gelu,
    builtin_name="torch.nn.functional.gelu",
    properties=Properties(limits=(0.0, math.inf), bounds=(GELU_MIN, None)),
))
