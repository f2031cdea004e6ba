"""Scaled hyperbolic tangent with a trainable amplitude and slope: f(x) = a * tanh(b * x).

LeCun, Bottou, Orr & Müller, "Efficient BackProp", in Neural Networks: Tricks of the
Trade, LNCS 1524, Springer 1998, section 4.4: a = 1.7159 and b = 2/3, chosen so that
f(+-1) = +-1 and the effective gain is close to 1 over the useful range. Here both
constants are trainable parameters, the two-parameter module in its simplest form:
an ``nn.Module`` holding ``a`` and ``b`` as ``nn.Parameter`` whose gradients autograd
derives,

    d/da = tanh(b x),   d/db = a x (1 - tanh^2(b x)),   d/dx = a b (1 - tanh^2(b x)).

b = 0 makes f identically 0 with d/db = a x; a = 0 makes it 0 with d/da = tanh(b x).
At an infinite input b * x is 0 * inf = NaN when b = 0; the functional returns the
limit a * sign(b) * sign(x) there and evaluates the formula only on finite inputs. A
product b * x that overflows a half-precision format at finite x is harmless: tanh
of +-inf is exact and its derivative there is 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from acts import _oracle
from acts._util import ActivationModule, tanh
from acts.registry import register
from acts.spec import Activation, Kind, Param, Properties

LECUN_A = 1.7159
LECUN_B = 2.0 / 3.0


def scaled_tanh(x: Tensor, a: Tensor | float, b: Tensor | float) -> Tensor:
    a = torch.as_tensor(a, dtype=x.dtype, device=x.device)
    b = torch.as_tensor(b, dtype=x.dtype, device=x.device)
    infinite = torch.isinf(x)
    xs = torch.where(infinite, 0.0, x)
    y = a * tanh(b * xs)
    # The limit at x = +-inf is +-a sign(b); sign(x) is taken by comparison so that no
    # NaN of a NaN input reaches the gradient of a.
    sign_b = torch.sign(b).detach()
    limit = a * torch.where(x > 0, sign_b, -sign_b)
    return torch.where(infinite, limit, y)


def reference(x: Tensor, a: Tensor | float, b: Tensor | float) -> Tensor:
    return torch.as_tensor(a, dtype=x.dtype) * _oracle.tanh(torch.as_tensor(b, dtype=x.dtype) * x)


class ScaledTanh(ActivationModule):
    params = (
        Param("a", LECUN_A, edge_values=(0.0, 1.0), doc="amplitude: the output lies in [-|a|, |a|]"),
        Param(
            "b",
            LECUN_B,
            edge_values=(0.0, -LECUN_B, 10.0),
            doc="slope at 0 over a; negative b flips the sign",
        ),
    )
    fn = staticmethod(scaled_tanh)


SPEC = register(Activation(
    name="scaled_tanh", kind=Kind.PARAMETRIC, formula="a * tanh(b * x)",
    source="LeCun et al. 1998, Efficient BackProp, Neural Networks: Tricks of the Trade, LNCS 1524",
    module=ScaledTanh, functional=scaled_tanh, reference=reference,
    oracle="a tanh(b x), tanh through expm1 (no 1 - tanh^2 in its derivatives)", params=ScaledTanh.params,
    properties=Properties(limits=(-LECUN_A, LECUN_A), bounds=(-LECUN_A, LECUN_A), monotonic=True, parity="odd"),
))
