"""Soft exponential: a trainable interpolation between log, identity and exp.

    f(alpha, x) = -log(1 - alpha * (x + alpha)) / alpha   alpha < 0
                  x                                       alpha = 0
                  (exp(alpha * x) - 1) / alpha + alpha    alpha > 0

Godfrey & Gashler, "A continuum among logarithmic, linear, and exponential functions,
and its potential to improve generalization in neural networks", KDIR 2015,
arXiv:1602.01321.

alpha = 0 is the smooth limit of both branches, and d/dalpha there is the limit of
both, 1 + x^2 / 2. The naive code divides by alpha and gives NaN there, as does
``torch.where`` over a branch that overflows or leaves its domain where it is not
selected: each branch here sees only safe inputs.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from acts._util import ActivationModule, expm1
from acts.registry import register
from acts.spec import Activation, Kind, Param, ParamValues, Properties


def soft_exponential(x: Tensor, alpha: Tensor | float) -> Tensor:
    if x.dtype in (torch.float16, torch.bfloat16):
        # Compute in float32 and round once, as torch's own kernels do: in float16 the
        # backward of expm1(a x) / a multiplies by 1/a before exp(a x) and overflows
        # (a = 1e-3, x = 4188: 1000 * 65.9 > 65504) although the gradient is finite.
        return soft_exponential(x.float(), torch.as_tensor(alpha).float()).to(x.dtype)
    alpha = torch.as_tensor(alpha, dtype=x.dtype, device=x.device)
    pos, neg = alpha > 0, alpha < 0
    a_pos, a_neg = torch.where(pos, alpha, 1.0), torch.where(neg, alpha, -1.0)
    exp_branch = expm1(a_pos * torch.where(pos, x, 0.0)) / a_pos + a_pos
    log_branch = -torch.log1p(torch.where(neg, -a_neg * (x + a_neg), 0.0)) / a_neg
    # First order in alpha: exact value x at alpha = 0 and the true d/dalpha. Written
    # as (alpha x) x so that alpha = 0 gives 0, not 0 * inf, when x * x overflows.
    zero_branch = torch.where(torch.isinf(x), x, x + alpha + 0.5 * (alpha * x) * x)
    return torch.where(pos, exp_branch, torch.where(neg, log_branch, zero_branch))


def reference(x: Tensor, alpha: Tensor | float) -> Tensor:
    # Where they would cancel, exp(z) - 1 = 2 sinh(z / 2) exp(z / 2) and log(1 + w) =
    # 2 atanh(w / (2 + w)) (elsewhere sinh(h) exp(h) overflows and atanh' cancels).
    a = torch.as_tensor(alpha, dtype=x.dtype, device=x.device)
    pos, neg = a > 0, a < 0
    a_pos, a_neg = torch.where(pos, a, 1.0), torch.where(neg, a, -1.0)
    h = a_pos * torch.where(pos, x, 0.0) / 2
    w = torch.where(neg, -a_neg * (x + a_neg), 0.0)
    zero = torch.where(x.isinf(), x, x + a + (a * x) * x / 2)
    small, near = h.abs() < 0.5, w.abs() < 0.5
    hs, ws = torch.where(small, h, 0.0), torch.where(near, w, 0.0)
    exp_branch = torch.where(small, 2 * torch.sinh(hs) * torch.exp(hs), torch.exp(2 * h) - 1) / a_pos + a_pos
    log_branch = -torch.where(near, 2 * torch.atanh(ws / (2 + ws)), torch.log(1 + w)) / a_neg
    return torch.where(pos, exp_branch, torch.where(neg, log_branch, zero))


def _domain(p: ParamValues) -> tuple[float, float]:
    a = p["alpha"]
    # log(1 - a (x + a)) needs 1 - a (x + a) > 0, i.e. x > 1/a - a when a < 0.
    return (1.0 / a - a, math.inf) if a < 0 else (-math.inf, math.inf)


class SoftExponential(ActivationModule):
    params = (Param("alpha", 0.0, edge_values=(-0.5, 0.5, 1e-3, -1e-3)),)
    fn = staticmethod(soft_exponential)


SPEC = register(Activation(
    name="soft_exponential", kind=Kind.PARAMETRIC,
    formula="-log(1 - a(x + a))/a (a<0); x (a=0); (exp(a x) - 1)/a + a (a>0)",
    source="Godfrey & Gashler 2015, KDIR, arXiv:1602.01321", module=SoftExponential,
    functional=soft_exponential, reference=reference,
    oracle="exp and log, and 2 sinh(z/2) exp(z/2), 2 atanh(w / (2 + w)) where they would cancel: no expm1, no log1p",
    params=SoftExponential.params, domain=_domain,
    properties=Properties(limits=(-math.inf, math.inf), monotonic=True, parity="odd"),
))
