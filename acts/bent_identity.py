"""Bent identity: f(x) = (sqrt(x^2 + 1) - 1) / 2 + x.

No original paper; a folklore activation listed in the activation-function table of
Wikipedia's "Activation function" article.

sqrt(x^2 + 1) is hypot(x, 1), which does not overflow where x^2 would (float16 beyond
|x| = 256). sqrt(x^2 + 1) - 1 cancels near 0; it equals x^2 / (sqrt(x^2 + 1) + 1),
written x * (x / (h + 1)) so that no factor exceeds |x|.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from acts._util import ActivationModule
from acts.registry import register
from acts.spec import Activation, Kind, Properties


def bent_identity(x: Tensor) -> Tensor:
    h = torch.hypot(x, torch.ones_like(x))
    # At -+inf, x / (h + 1) is inf / inf = NaN; the limits are -+inf, x itself.
    return torch.where(x.isinf(), x, x + 0.5 * x * (x / (h + 1)))


def reference(x: Tensor) -> Tensor:
    # At x = sinh t, sqrt(x^2 + 1) - 1 = cosh t - 1 = 2 sinh^2(t / 2).
    return torch.where(x.isinf(), x, torch.sinh(torch.asinh(x) / 2) ** 2 + x)


class BentIdentity(ActivationModule):
    fn = staticmethod(bent_identity)


SPEC = register(Activation(
    name="bent_identity", kind=Kind.FORMULA, formula="(sqrt(x^2 + 1) - 1) / 2 + x",
    source="folklore; Wikipedia, 'Activation function' (no original paper)",
    module=BentIdentity, functional=bent_identity, reference=reference,
    oracle="sinh(asinh(x) / 2)^2 + x, no sqrt(x^2 + 1) - 1 to cancel",
    # f' = 1 + x / (2 sqrt(x^2 + 1)) >= 1/2
    properties=Properties(limits=(-math.inf, math.inf), monotonic=True),
))
