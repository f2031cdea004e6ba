"""Hard tanh: f(x) = min(max(x, -1), 1).

Collobert, "Large Scale Machine Learning", PhD thesis, Université Paris VI (2004).

The in-place variant recovers the derivative from the output: 1 where -1 < y < 1, 0
elsewhere, so at the kinks it is 0 like torch's; the out-of-place form passes the
gradient of the clamp, 1, there. Both lie in the subdifferential.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, inplace_from_output
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Properties, Smoothness


def hardtanh(x: Tensor) -> Tensor:
    return x.clamp(-1, 1)


HardTanhInplaceFunction = inplace_from_output(
    "HardTanh", lambda x: x.clamp_(-1, 1), lambda y: (y.abs() < 1).to(y.dtype)
)

def hardtanh_(x: Tensor) -> Tensor:
    return HardTanhInplaceFunction.apply(x)


class HardTanh(ActivationModule):
    fn = staticmethod(hardtanh)
    fn_inplace = staticmethod(hardtanh_)


SPEC = register(Activation(
    name="hardtanh", kind=Kind.FORMULA, formula="min(max(x, -1), 1)",
    source="Collobert 2004, PhD thesis, Université Paris VI", module=HardTanh, functional=hardtanh,
    reference=F.hardtanh, oracle="the built-in torch.nn.functional.hardtanh", inplace=hardtanh_,
    inplace_saves_training_memory=True, kinks=(Kink(-1.0), Kink(1.0)), builtin=F.hardtanh,
    builtin_name="torch.nn.functional.hardtanh",
    properties=Properties(limits=(-1.0, 1.0), bounds=(-1.0, 1.0), monotonic=True, smoothness=Smoothness.C0, parity="odd"),
))
