"""acts._util.expm1 in eager mode: its derivative is exp(x) computed from x, so the
gradients of ELU, CELU and SELU stay accurate far into the negative side, where
autograd's own expm1 backward, grad * (result + 1), cancels."""

from __future__ import annotations

import pytest
import torch

import acts
from acts._util import expm1

FAR_NEGATIVE = [-29.6, -20.0, -17.0, -14.2, -10.0, -3.0, -1.0, -1e-3, -1e-30, 0.0]


@pytest.mark.parametrize("name", ["elu", "celu", "selu"])
def test_float32_gradient_is_accurate_far_into_the_negative_side(name: str) -> None:
    spec = acts.get(name)
    x = torch.tensor(FAR_NEGATIVE, requires_grad=True)
    spec.build()(x).sum().backward()
    x64 = x.detach().double().requires_grad_()
    spec.build().double()(x64).sum().backward()
    assert x.grad is not None and x64.grad is not None
    rel = (x.grad.double() - x64.grad).abs() / x64.grad.abs()
    assert (rel <= 2 * torch.finfo(torch.float32).eps).all(), rel


def test_expm1_is_differentiable_twice_and_forward_mode_and_under_vmap() -> None:
    x = torch.linspace(-20, 3, 64, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(expm1, (x,))
    assert torch.autograd.gradgradcheck(expm1, (x,))
    _, tangent = torch.func.jvp(expm1, (x.detach(),), (torch.ones_like(x),))
    torch.testing.assert_close(tangent, torch.exp(x.detach()))
    torch.testing.assert_close(torch.vmap(expm1)(x.detach().reshape(8, 8)), torch.expm1(x.detach()).reshape(8, 8))
    torch.testing.assert_close(torch.func.grad(lambda t: expm1(t).sum())(x.detach()), torch.exp(x.detach()))
