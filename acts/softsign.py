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
    # Beyond |x| = 1 as sign(x) (1 - 1 / (1 + |x|)): autograd's derivative of x / (1 + |x|)
    # is there a difference of near-equal terms. It also gives the limits +-1 at +-inf.
    big = x.abs() >= 1
    xs = torch.where(big, 0.0, x)
    return torch.where(big, torch.sign(x) * (1 - 1 / (1 + x.abs())), xs / (1 + xs.abs()))


def reference(x: Tensor) -> Tensor:
    # |x| / (1 + |x|) = exp(-log1p(1 / |x|)): a derivative free of cancellation for |x| >= 1.
    big = x.abs() >= 1
    far = torch.sign(x) * torch.exp(-torch.log1p(1 / torch.where(big, x.abs(), 1.0)))
    return torch.where(big, far, x / (1 + x.abs()))


class Softsign(ActivationModule):
    fn = staticmethod(softsign)


SPEC = register(Activation(
    name="softsign", kind=Kind.FORMULA, formula="x / (1 + |x|)",
    source="Turian et al. 2009, NAACL-HLT; Bergstra et al. 2009, U. Montréal TR 1337", module=Softsign,
    functional=softsign, reference=reference,
    oracle="x / (1 + |x|) below |x| = 1, sign(x) exp(-log1p(1 / |x|)) beyond", builtin=F.softsign,
    builtin_name="torch.nn.functional.softsign",
    properties=Properties(limits=(-1.0, 1.0), bounds=(-1.0, 1.0), monotonic=True, smoothness=Smoothness.C1, parity="odd"),
))
