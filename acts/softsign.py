"""Softsign: f(x) = x / (1 + |x|).

Turian, Bergstra & Bengio, "Quadratic Features and Deep Architectures for Chunking",
NAACL-HLT 2009; Bergstra, Desjardins, Lamblin & Bengio, "Quadratic polynomials learn
better image features", Technical Report 1337, Université de Montréal (2009).

The derivative 1 / (1 + |x|)^2 is continuous, but the second derivative jumps from 2
to -2 at 0: C1 with no kink.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule
from acts.registry import register
from acts.spec import Activation, Kind, Properties, Smoothness


def softsign(x: Tensor) -> Tensor:
    # inf / inf is NaN (torch's softsign gives NaN there); the limits are -1 and 1.
    return torch.where(x.isinf(), x.sign(), x / (1 + x.abs()))


class Softsign(ActivationModule):
    fn = staticmethod(softsign)


SPEC = register(
    Activation(
        name="softsign",
        kind=Kind.FORMULA,
        formula="x / (1 + |x|)",
        source="Turian et al. 2009, NAACL-HLT; Bergstra et al. 2009, U. Montréal TR 1337",
        module=Softsign,
        functional=softsign,
        reference=softsign,
        builtin=F.softsign,
        builtin_name="torch.nn.functional.softsign",
        properties=Properties(
            limits=(-1.0, 1.0),
            value_at_zero=0.0,
            bounds=(-1.0, 1.0),
            monotonic=True,
            smoothness=Smoothness.C1,
            parity="odd",
        ),
    )
)
