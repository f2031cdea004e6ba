"""Hard sigmoid: f(x) = relu6(x + 3) / 6 = min(max(x / 6 + 1/2, 0), 1).

Howard et al., "Searching for MobileNetV3", ICCV 2019, arXiv:1905.02244 (this form);
Courbariaux, Bengio & David, "BinaryConnect", NeurIPS 2015, arXiv:1511.00363 (the
hard sigmoid with slope 1/2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Properties, Smoothness


def hardsigmoid(x: Tensor) -> Tensor:
    return (x + 3).clamp(0, 6) / 6


def reference(x: Tensor) -> Tensor:
    return torch.where(x <= -3, 0.0, torch.where(x >= 3, 1.0, x / 6 + 0.5))


class HardSigmoid(ActivationModule):
    fn = staticmethod(hardsigmoid)


SPEC = register(Activation(
    name="hardsigmoid", kind=Kind.FORMULA, formula="min(max(x + 3, 0), 6) / 6",
    source="Howard et al. 2019, ICCV, arXiv:1905.02244", module=HardSigmoid, functional=hardsigmoid,
    reference=reference,
    oracle="the pieces 0, x / 6 + 1/2, 1 (torch's hardsigmoid backward rounds 1/6 to float32)",
    kinks=(Kink(-3.0), Kink(3.0)), builtin=F.hardsigmoid, builtin_name="torch.nn.functional.hardsigmoid",
    properties=Properties(limits=(0.0, 1.0), value_at_zero=0.5, bounds=(0.0, 1.0), monotonic=True, smoothness=Smoothness.C0),
))
