"""ReLU6: f(x) = min(max(x, 0), 6).

Krizhevsky, "Convolutional Deep Belief Networks on CIFAR-10", unpublished manuscript
(2010); popularised by Howard et al., "MobileNets", arXiv:1704.04861 (2017).

The in-place variant recovers the derivative from the output: 1 where 0 < y < 6, 0
elsewhere, so at the kinks it is 0 like torch's; the out-of-place form passes the
gradient of the clamp, 1, there. Both lie in the subdifferential.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from acts._util import ActivationModule, inplace_from_output
from acts.registry import register
from acts.spec import Activation, Kind, Kink, Properties, Smoothness


def relu6(x: Tensor) -> Tensor:
    return x.clamp(0, 6)


ReLU6InplaceFunction = inplace_from_output(
    "ReLU6", lambda x: x.clamp_(0, 6), lambda y: ((y > 0) & (y < 6)).to(y.dtype)
)

def relu6_(x: Tensor) -> Tensor:
    return ReLU6InplaceFunction.apply(x)


class ReLU6(ActivationModule):
    fn = staticmethod(relu6)
    fn_inplace = staticmethod(relu6_)


SPEC = register(Activation(
    name="relu6", kind=Kind.FORMULA, formula="min(max(x, 0), 6)",
    source="Krizhevsky 2010 (CIFAR-10 convolutional DBNs); Howard et al. 2017, arXiv:1704.04861",
    module=ReLU6, functional=relu6, reference=F.relu6, oracle="the built-in torch.nn.functional.relu6",
    inplace=relu6_, inplace_saves_training_memory=True, kinks=(Kink(0.0), Kink(6.0)), builtin=F.relu6,
    builtin_name="torch.nn.functional.relu6",
    properties=Properties(limits=(0.0, 6.0), bounds=(0.0, 6.0), monotonic=True, smoothness=Smoothness.C0),
))
