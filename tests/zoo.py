"""Activations written the way tutorials, model zoos and papers' repositories write them,
each with the pattern (and, where named so, the bug) the gate must judge right.

`tests/test_zoo.py` runs the whole default battery on each and names the checks that
must fail; the checks' own tests use them one check at a time.
"""

from __future__ import annotations

import torch
import torch.nn as nn


# -- always in place: overwrite the input, mark it dirty, save only the output ---------
class LeakyReLUInplaceFunction(torch.autograd.Function):
    """Leaky ReLU with slope 0.01 written into its input; the backward reads the branch
    from the output's sign, which is the input's sign for a positive slope."""

    @staticmethod
    def forward(ctx, x):
        x[x < 0] *= 0.01
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return torch.where(y > 0, grad_output, grad_output * 0.01)


class NegativeSlopeInplaceFunction(torch.autograd.Function):
    """Bug: a leaky ReLU with negative slope -0.2, in place, whose backward reads the
    branch from the output's sign. For x < 0 the output -0.2 x is positive, so the
    backward passes the gradient unchanged where it should scale it by -0.2."""

    @staticmethod
    def forward(ctx, x):
        x[x < 0] *= -0.2
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return torch.where(y > 0, grad_output, grad_output * -0.2)


class ClampWithoutMarkDirty(torch.autograd.Function):
    """Bug: writes into its input (``clamp_``) without ``ctx.mark_dirty``: the caller's
    tensor changes behind autograd's back. Its gradient is right."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp_(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (x > 0)


# -- a zoo base class that declines the in-place mode ---------------------------------
class ActivationBase(nn.Module):
    """Every activation of the zoo takes ``inplace``; those without an in-place form
    refuse it."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        if inplace and not self.supports_inplace:
            raise NotImplementedError(f"{type(self).__name__} does not support in-place operations.")
        self.inplace = inplace

    supports_inplace = False


class GaussianActivation(ActivationBase):
    """exp(-x^2): no in-place form, so ``inplace=True`` is declined."""

    def forward(self, x):
        return torch.exp(-x * x)


class SwishIgnoresInplace(ActivationBase):
    """Bug: says it supports ``inplace=True`` and allocates anyway."""

    supports_inplace = True

    def forward(self, x):
        return x * torch.sigmoid(x)


# -- a dead activation ------------------------------------------------------------------
class ZeroActivation(nn.Module):
    """Bug: identically zero (a mask applied the wrong way round)."""

    def forward(self, x):
        return x * (x != x)
