"""Activations written the way tutorials, model zoos and papers' repositories write them,
each with the pattern (and, where named so, the bug) the gate must judge right.

`tests/test_zoo.py` runs the whole default battery on each and names the checks that
must fail; the checks' own tests use them one check at a time.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


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


class ScaledSoftsign(ActivationBase):
    """a x / (1 + |x|): its constructor takes ``scale`` and no ``inplace``; the base class
    sets the attribute all the same, which offers no in-place form."""

    def __init__(self, scale: float = 1.5):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return self.scale * x / (1 + x.abs())


# -- a dead activation ------------------------------------------------------------------
class ZeroActivation(nn.Module):
    """Bug: identically zero (a mask applied the wrong way round)."""

    def forward(self, x):
        return x * (x != x)


# -- smooth, with a kink in f' ---------------------------------------------------------
class RationalSoftsign(nn.Module):
    """x / (1 + |x|) (softsign, written out): f is C^1, f' = 1 / (1 + |x|)^2 has a kink
    at 0, so f'' jumps there from +2 to -2."""

    def forward(self, x):
        return x / (1 + x.abs())


# -- channel-bound modules ----------------------------------------------------------------
class AconC(nn.Module):
    """ACON-C (Ma et al., "Activate or Not: Learning Customized Activation", CVPR 2021),
    as its authors' code writes it: (p1 - p2) x sigmoid(beta (p1 - p2) x) + p2 x with
    per-channel p1, p2 and beta of shape (1, C, 1, 1), for N C H W inputs only."""

    def __init__(self, width):
        super().__init__()
        self.p1 = nn.Parameter(torch.randn(1, width, 1, 1))
        self.p2 = nn.Parameter(torch.randn(1, width, 1, 1))
        self.beta = nn.Parameter(torch.ones(1, width, 1, 1))

    def forward(self, x):
        return (self.p1 * x - self.p2 * x) * torch.sigmoid(self.beta * (self.p1 * x - self.p2 * x)) + self.p2 * x


class AconCFlatView(AconC):
    """Bug: flattens the spatial dimensions with ``view``, which a channels-last (or
    any non-contiguous) input cannot give: it raises where the model runs."""

    def forward(self, x):
        n, c = x.shape[:2]
        flat = x.view(n, c, -1)
        p1, p2, beta = (t.view(1, c, 1) for t in (self.p1, self.p2, self.beta))
        dpx = (p1 - p2) * flat
        return (dpx * torch.sigmoid(beta * dpx) + p2 * flat).view_as(x)


def acon_c():
    """ACON-C on 6 channels, its random parameters drawn from a fixed seed."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return AconC(6)


def acon_c_flat_view():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return AconCFlatView(6)


class Snake(nn.Module):
    """Snake (Liu Ziyin et al., "Neural Networks Fail to Learn Periodic Functions and How
    to Fix It", NeurIPS 2020), as audio models write it: x + sin^2(alpha x) / alpha with
    alpha of shape (C,) unsqueezed to (1, C, 1), for N C T inputs."""

    def __init__(self, in_features=5, alpha=1.0):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(in_features) * alpha)

    def forward(self, x):
        alpha = self.alpha.unsqueeze(0).unsqueeze(-1)
        return x + (1.0 / (alpha + 1e-9)) * torch.pow(torch.sin(x * alpha), 2)


# -- a few half-precision values only --------------------------------------------------------
class PeriodicTan(nn.Module):
    """Bug in float16 only: x + sin^2(x), with sin^2 written as 1 - 1 / (1 + tan^2 x).
    The forward is fine everywhere (1 / inf = 0), but near the poles of tan the backward
    multiplies 0 by 1 + tan^2 = inf in float16: NaN gradients at 78 of the 63,488 finite
    float16 values (64 of them with |x| <= 1e4), and nowhere in any other dtype."""

    def forward(self, x):
        t = torch.tan(x)
        return x + 1 - 1 / (1 + t * t)


# -- right near 0 only --------------------------------------------------------------------------
class PenalizedTanhFunction(torch.autograd.Function):
    """Bug for large |x|: tanh(x) + 0.1 x with a backward that clips to |x| <= 8 (a
    'saturated anyway' shortcut), where the true slope is still 0.1."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.tanh(x) + 0.1 * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        slope = 1 - torch.tanh(x) ** 2 + 0.1
        return grad_output * torch.where(x.abs() <= 8, slope, torch.zeros_like(slope))


# -- one dtype only ------------------------------------------------------------------------------
class MixedPrecisionMish(nn.Module):
    """Bug in bfloat16 only: Mish, x tanh(softplus(x)), with a bfloat16 fast path that
    applies the 1.5x scale meant for a variant."""

    def forward(self, x):
        if x.dtype == torch.bfloat16:
            return 1.5 * x * torch.tanh(F.softplus(x.float())).to(x.dtype)
        return x * torch.tanh(F.softplus(x))


# -- trainable parameters ------------------------------------------------------------------------
class SwishFunction(torch.autograd.Function):
    """Bug away from the default: Swish-beta, x sigmoid(beta x), whose backward drops
    beta's factor in d/dx (sigmoid + beta x sigmoid (1 - sigmoid)): exact at beta = 1."""

    @staticmethod
    def forward(ctx, x, beta):
        ctx.save_for_backward(x, beta)
        return x * torch.sigmoid(beta * x)

    @staticmethod
    def backward(ctx, grad_output):
        x, beta = ctx.saved_tensors
        s = torch.sigmoid(beta * x)
        grad_x = s + x * s * (1 - s)
        grad_beta = (grad_output * x * x * s * (1 - s)).sum().reshape(beta.shape)
        return grad_output * grad_x, grad_beta


class SwishBeta(nn.Module):
    def __init__(self, beta=1.0):
        super().__init__()
        self.beta = nn.Parameter(torch.tensor([beta]))

    def forward(self, x):
        return SwishFunction.apply(x, self.beta)


class PowerAbs(nn.Module):
    """Bug away from the default: |x|^gamma with a trainable gamma (1.5 at init). Once
    gamma < 1, pow's backward at x = 0 is 0 * inf = NaN."""

    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.tensor(1.5))

    def forward(self, x):
        return torch.pow(torch.abs(x), self.gamma)


# -- shape-changing ------------------------------------------------------------------------------
class CReLU(nn.Module):
    """Concatenated ReLU (Shang et al., "Understanding and Improving Convolutional
    Neural Networks via Concatenated Rectified Linear Units", ICML 2016): relu(x) and
    relu(-x) along the channels, doubling them."""

    def forward(self, x):
        return torch.cat([F.relu(x), F.relu(-x)], dim=1)


class CReLUFunction(torch.autograd.Function):
    """Bug: CReLU with a hand-written backward that forgets the sign of the mirrored
    half: d relu(-x) / dx is -1 for x < 0, and it passes +1."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.cat([x.clamp(min=0), (-x).clamp(min=0)], dim=1)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        g_pos, g_neg = grad_output.chunk(2, dim=1)
        return g_pos * (x > 0) + g_neg * (x < 0)


# -- an overflow inside ------------------------------------------------------------------------
class SwishExpRatio(nn.Module):
    """Bug: Swish written as x e^x / (1 + e^x): e^x overflows from x = 709.8 in float64
    (88.7 in float32) and inf / inf is NaN, where x sigmoid(x) is x."""

    def forward(self, x):
        e = torch.exp(x)
        return x * e / (1 + e)
