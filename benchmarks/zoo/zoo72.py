"""An activation zoo: 72 activation functions from the literature in one file.

Written the way public collections of activations are: a ``BaseActivation`` with an
``inplace`` flag, plain modules, modules with trainable parameters (shape ``(1,)`` or
per-channel), ``torch.autograd.Function`` s with hand-written backward passes and the
modules that wrap them, memory-lean ("ME") variants that save only their input, a few
in-place variants, and functional helpers.

Layouts: every activation is elementwise and accepts any shape, except the per-channel
modules, which take ``(N, C, *)`` input with channels at dimension 1 (``Snake``,
``SReLU``, ``APL``; ``ACONC`` takes ``(N, C, H, W)``). Those need their channel count;
the ``*_c4`` factories build them for four channels.

Not every implementation here is right: see ``README.md`` next to this file and
``DEFECTS`` at the bottom.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_LOG_2 = math.log(2.0)


class BaseActivation(nn.Module):
    """Common base: stores ``inplace`` and refuses it where there is no in-place form."""

    supports_inplace = False

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        if inplace and not self.supports_inplace:
            raise NotImplementedError(f"{type(self).__name__} does not support in-place operations.")
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


def _upcast(x: Tensor) -> Tensor:
    """float16/bfloat16 computed in float32 (the caller casts back)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _scalar(p: Tensor, x: Tensor) -> Tensor:
    """A (1,) parameter as a 0-d tensor in the input's dtype (a 0-d input stays 0-d)."""
    return p.to(x.dtype).reshape(())


def _channel_view(p: Tensor, x: Tensor) -> Tensor:
    """A (C,) parameter laid out against an (N, C, *) input."""
    if x.dim() < 2 or x.shape[1] != p.shape[0]:
        raise ValueError(f"expected (N, {p.shape[0]}, *) input, got shape {tuple(x.shape)}")
    return p.to(x.dtype).view(1, -1, *([1] * (x.dim() - 2)))


# --------------------------------------------------------------------------------------
# Functional helpers
# --------------------------------------------------------------------------------------


def swish(x: Tensor, beta: float | Tensor = 1.0) -> Tensor:
    return x * torch.sigmoid(beta * x)


def mish(x: Tensor) -> Tensor:
    return x * torch.tanh(F.softplus(x))


def tanhexp(x: Tensor) -> Tensor:
    # tanh(e^x) is exactly 1 in every float dtype once x > 4; clamping keeps exp finite
    return x * torch.tanh(torch.exp(x.clamp(max=5.0)))


def gelu_erf(x: Tensor) -> Tensor:
    # 0.5 * x * (1 + erf(x / sqrt 2)), written with erfc so the left tail keeps its digits
    return 0.5 * x * torch.erfc(-x / _SQRT_2)


def gelu_tanh(x: Tensor) -> Tensor:
    # 0.5 * (1 + tanh(u)) == sigmoid(2u); the cube overflows float16 from |x| = 41
    xf = _upcast(x)
    return (xf * torch.sigmoid(2.0 * _SQRT_2_OVER_PI * (xf + 0.044715 * xf * xf * xf))).to(x.dtype)


def bent_identity(x: Tensor) -> Tensor:
    return 0.5 * (torch.hypot(x, torch.ones_like(x)) - 1.0) + x


# --------------------------------------------------------------------------------------
# ReLU family
# --------------------------------------------------------------------------------------


class ReLU(BaseActivation):
    """max(0, x)."""

    supports_inplace = True

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu_(x) if self.inplace else torch.relu(x)


class ReLU6(BaseActivation):
    """min(max(0, x), 6) (Krizhevsky, 2010)."""

    supports_inplace = True

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(x, inplace=self.inplace)


class LeakyReLU(BaseActivation):
    """x for x >= 0, slope * x below (Maas et al., 2013)."""

    supports_inplace = True

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope, inplace=self.inplace)


class RReLUMean(BaseActivation):
    """Randomized leaky ReLU at test time: the slope fixed to (lower + upper) / 2 (Xu et al., 2015)."""

    def __init__(self, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0) -> None:
        super().__init__()
        self.slope = 0.5 * (lower + upper)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.slope)


class RandomizedReLU(BaseActivation):
    """Randomized leaky ReLU: a slope drawn uniformly from [lower, upper] per element."""

    def __init__(self, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0) -> None:
        super().__init__()
        self.lower, self.upper = lower, upper

    def forward(self, x: Tensor) -> Tensor:
        slope = torch.empty_like(x).uniform_(self.lower, self.upper)
        return torch.where(x >= 0, x, x * slope)


class PReLU1(BaseActivation):
    """Parametric ReLU with one shared, trainable slope of shape (1,) (He et al., 2015)."""

    def __init__(self, init: float = 0.25) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((1,), init))

    def forward(self, x: Tensor) -> Tensor:
        return torch.where(x >= 0, x, _scalar(self.weight, x) * x)


class SReLU(BaseActivation):
    """S-shaped ReLU (Jin et al., 2016) with per-channel thresholds and slopes; (N, C, *) input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.t_left = nn.Parameter(torch.full((channels,), -0.4))
        self.a_left = nn.Parameter(torch.full((channels,), 0.2))
        self.t_right = nn.Parameter(torch.full((channels,), 1.0))
        self.a_right = nn.Parameter(torch.full((channels,), 1.0))

    def forward(self, x: Tensor) -> Tensor:
        tl, al = _channel_view(self.t_left, x), _channel_view(self.a_left, x)
        tr, ar = _channel_view(self.t_right, x), _channel_view(self.a_right, x)
        return torch.where(x < tl, tl + al * (x - tl), torch.where(x > tr, tr + ar * (x - tr), x))


class APL(BaseActivation):
    """Adaptive piecewise linear unit (Agostinelli et al., 2015):
    max(0, x) + sum_s a_s * max(0, -x + b_s), per channel; (N, C, *) input."""

    def __init__(self, channels: int, hinges: int = 2) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.linspace(0.2, -0.1, hinges).repeat(channels, 1))
        self.b = nn.Parameter(torch.linspace(-0.5, 0.5, hinges).repeat(channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(x)
        for s in range(self.a.shape[1]):
            a = _channel_view(self.a[:, s], x)
            b = _channel_view(self.b[:, s], x)
            out = out + a * torch.relu(b - x)
        return out


class BipolarReLU(BaseActivation):
    """Bipolar ReLU (Eidnes & Nøkland, 2017): ReLU on even channels, -ReLU(-x) on odd ones."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2:
            return torch.relu(x)
        odd = (torch.arange(x.shape[1], device=x.device) % 2 == 1).view(1, -1, *([1] * (x.dim() - 2)))
        return torch.where(odd, -torch.relu(-x), torch.relu(x))


class ThresholdReLU(BaseActivation):
    """max(x, threshold): a ReLU with its floor moved to ``threshold``."""

    supports_inplace = True

    def __init__(self, threshold: float = -0.5, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.threshold = threshold

    def forward(self, x: Tensor) -> Tensor:
        return F.threshold(x, self.threshold, self.threshold, inplace=self.inplace)


class MaskedReLU(BaseActivation):
    """ReLU written as a mask."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.where(x > 0, x, torch.zeros_like(x))


class SquaredReLU(BaseActivation):
    """relu(x)^2 (So et al., 2021, Primer)."""

    def forward(self, x: Tensor) -> Tensor:
        r = torch.relu(x)
        return r * r


class ReLUFunction(torch.autograd.Function):
    """ReLU with a hand-written backward and an in-place form."""

    @staticmethod
    def forward(ctx, x: Tensor, inplace: bool) -> Tensor:  # type: ignore[override]
        if inplace:
            ctx.mark_dirty(x)
            y = x.clamp_(min=0)
        else:
            y = x.clamp(min=0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return grad * (y > 0).to(grad.dtype), None


class ReLUFn(BaseActivation):
    supports_inplace = True

    def forward(self, x: Tensor) -> Tensor:
        return ReLUFunction.apply(x, self.inplace)


class FastReLUFunction(torch.autograd.Function):
    """ReLU without the extra allocation."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        mask = x > 0
        ctx.save_for_backward(mask)
        return x.clamp_(min=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (mask,) = ctx.saved_tensors
        return grad * mask.to(grad.dtype)


class FastReLU(BaseActivation):
    def forward(self, x: Tensor) -> Tensor:
        return FastReLUFunction.apply(x)


class LeakyReLUFunction(torch.autograd.Function):
    """Leaky ReLU with a hand-written backward and an in-place form."""

    @staticmethod
    def forward(ctx, x: Tensor, slope: float, inplace: bool) -> Tensor:  # type: ignore[override]
        ctx.slope = slope
        if inplace:
            ctx.mark_dirty(x)
            y = F.leaky_relu_(x, slope)
        else:
            y = F.leaky_relu(x, slope)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (y,) = ctx.saved_tensors
        slope = ctx.slope
        d = (y > 0).to(grad.dtype) + slope * (y < 0).to(grad.dtype)
        return grad * d, None, None


class LeakyReLUFn(BaseActivation):
    supports_inplace = True

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return LeakyReLUFunction.apply(x, self.negative_slope, self.inplace)


# --------------------------------------------------------------------------------------
# Exponential family
# --------------------------------------------------------------------------------------


class ELU(BaseActivation):
    """x for x > 0, alpha * (e^x - 1) below (Clevert et al., 2016)."""

    supports_inplace = True

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha, inplace=self.inplace)


class CELU(BaseActivation):
    """Continuously differentiable ELU: max(0, x) + min(0, alpha * (e^(x / alpha) - 1)) (Barron, 2017)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return torch.where(x > 0, x, self.alpha * torch.expm1(x / self.alpha))


class SELU(BaseActivation):
    """Scaled ELU (Klambauer et al., 2017)."""

    supports_inplace = True

    def forward(self, x: Tensor) -> Tensor:
        return F.selu(x, inplace=self.inplace)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class SELUFunction(torch.autograd.Function):
    """SELU that saves only its input; forward-mode AD included."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        neg = _SELU_ALPHA * torch.expm1(x.clamp(max=0.0))
        return _SELU_SCALE * torch.where(x > 0, x, neg)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        d = torch.where(x > 0, torch.ones_like(x), _SELU_ALPHA * torch.exp(x.clamp(max=0.0)))
        return grad * _SELU_SCALE * d

    @staticmethod
    def jvp(ctx, x_t: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, x_t, x_t * _SELU_SCALE * _SELU_ALPHA * torch.exp(x.clamp(max=0.0)))


class SELUME(BaseActivation):
    def forward(self, x: Tensor) -> Tensor:
        return SELUFunction.apply(x)


class ISRLU(BaseActivation):
    """Inverse square root linear unit (Carlile et al., 2017): x for x >= 0, x / sqrt(1 + a x^2) below."""

    def __init__(self, a: float = 1.0) -> None:
        super().__init__()
        self.a = a

    def forward(self, x: Tensor) -> Tensor:
        xf = _upcast(x)
        neg = xf.clamp(max=0.0)
        y = torch.where(xf >= 0, xf, neg * torch.rsqrt(1.0 + self.a * neg * neg))
        return y.to(x.dtype)


class PELU(BaseActivation):
    """Parametric ELU (Trottier et al., 2017) with trainable a, b > 0 of shape (1,):
    (a / b) x for x >= 0, a (e^(x / b) - 1) below."""

    def __init__(self, a: float = 1.0, b: float = 1.0) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.full((1,), a))
        self.b = nn.Parameter(torch.full((1,), b))

    def forward(self, x: Tensor) -> Tensor:
        a, b = _scalar(self.a, x), _scalar(self.b, x)
        return torch.where(x >= 0, (a / b) * x, a * torch.expm1(x.clamp(max=0.0) / b))


class ShiftedSoftplus(BaseActivation):
    """softplus(x) - log 2 (Schütt et al., 2017, SchNet): zero at zero."""

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x) - _LOG_2


class ParametricSoftplus(BaseActivation):
    """softplus(beta x) / beta with a trainable beta > 0 of shape (1,)."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.full((1,), beta))

    def forward(self, x: Tensor) -> Tensor:
        beta = _scalar(self.beta, x)
        z = beta * x
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|)
        return (torch.relu(z) + torch.log1p(torch.exp(-z.abs()))) / beta


class ELUFunction(torch.autograd.Function):
    """ELU with a hand-written backward; out of place it saves only the input, in place the output."""

    @staticmethod
    def forward(ctx, x: Tensor, alpha: float, inplace: bool) -> Tensor:  # type: ignore[override]
        ctx.alpha, ctx.inplace = alpha, inplace
        if inplace:
            ctx.mark_dirty(x)
            y = F.elu_(x, alpha)
            ctx.save_for_backward(y)
            return y
        ctx.save_for_backward(x)
        return F.elu(x, alpha)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (t,) = ctx.saved_tensors
        if ctx.inplace:  # t is the output: f' = f + alpha below zero
            d = torch.where(t > 0, torch.ones_like(t), t + ctx.alpha)
        else:
            d = torch.where(t > 0, torch.ones_like(t), ctx.alpha * torch.exp(t.clamp(max=0.0)))
        return grad * d, None, None


class ELUME(BaseActivation):
    supports_inplace = True

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return ELUFunction.apply(x, self.alpha, self.inplace)


# --------------------------------------------------------------------------------------
# Smooth, gated
# --------------------------------------------------------------------------------------


class Swish(BaseActivation):
    """x * sigmoid(x), a.k.a. SiLU (Ramachandran et al., 2017; Elfwing et al., 2018)."""

    supports_inplace = True

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x, inplace=self.inplace)


class SwishBeta(BaseActivation):
    """x * sigmoid(beta x) with a trainable beta of shape (1,)."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.full((1,), beta))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(_scalar(self.beta, x) * x)


class SwishBetaFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, beta: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, beta)
        return x * torch.sigmoid(beta * x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        x, beta = ctx.saved_tensors
        s = torch.sigmoid(beta * x)
        ds = s * (1 - s)
        grad_x = grad * (s + x * ds)
        grad_beta = (grad * x * x * ds).sum().reshape(beta.shape)
        return grad_x, grad_beta


class SwishBetaME(BaseActivation):
    """Memory-lean x * sigmoid(beta x); beta = 1.702 makes it the sigmoid approximation of GELU."""

    def __init__(self, beta: float = 1.702) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.full((1,), beta))

    def forward(self, x: Tensor) -> Tensor:
        return SwishBetaFunction.apply(x, _scalar(self.beta, x))


class ESwish(BaseActivation):
    """beta * x * sigmoid(x) (Alcaide, 2018)."""

    def __init__(self, beta: float = 1.375) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, x: Tensor) -> Tensor:
        return self.beta * F.silu(x)


class QuickGELU(BaseActivation):
    """x * sigmoid(1.702 x), the sigmoid approximation of GELU."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class Mish(BaseActivation):
    """x * tanh(softplus(x)) (Misra, 2019)."""

    supports_inplace = True

    def forward(self, x: Tensor) -> Tensor:
        return F.mish(x, inplace=self.inplace)


class MishFunction(torch.autograd.Function):
    """Mish that saves only its input."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return x * torch.tanh(F.softplus(x))

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        t = torch.tanh(F.softplus(x))
        return grad * (t + x * torch.sigmoid(x) * (1 - t * t))


class MishME(BaseActivation):
    def forward(self, x: Tensor) -> Tensor:
        return MishFunction.apply(x)


class SiLUFunction(torch.autograd.Function):
    """SiLU that saves only its input."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad * (s + x * s * (1 - s))


class SiLUME(BaseActivation):
    def forward(self, x: Tensor) -> Tensor:
        return SiLUFunction.apply(x)


class TanhExp(BaseActivation):
    """x * tanh(e^x) (Liu & Di, 2020)."""

    def forward(self, x: Tensor) -> Tensor:
        return tanhexp(x)


class Smish(BaseActivation):
    """x * tanh(log(1 + sigmoid(x))) (Wang et al., 2022)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.tanh(torch.log1p(torch.sigmoid(x)))


class Logish(BaseActivation):
    """x * log(1 + sigmoid(x)) (Zhu et al., 2021)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.log1p(torch.sigmoid(x))


class GELU(BaseActivation):
    """x * Phi(x), the exact (erf) form (Hendrycks & Gimpel, 2016)."""

    def forward(self, x: Tensor) -> Tensor:
        return gelu_erf(x)


class GELUTanh(BaseActivation):
    """The tanh approximation of GELU."""

    def forward(self, x: Tensor) -> Tensor:
        return gelu_tanh(x)


class GELUTanhFunction(torch.autograd.Function):
    """The tanh approximation of GELU, saving only its input."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return gelu_tanh(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        cdf = 0.5 * torch.erfc(-x / _SQRT_2)
        pdf = _INV_SQRT_2PI * torch.exp(-0.5 * x * x)
        return grad * (cdf + x * pdf)


class GELUTanhME(BaseActivation):
    def forward(self, x: Tensor) -> Tensor:
        return GELUTanhFunction.apply(x)


class Phish(BaseActivation):
    """x * tanh(GELU(x)) (Naveen, 2022)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.tanh(F.gelu(x))


class SERF(BaseActivation):
    """x * erf(log(1 + e^x)) (Nag & Bhattacharyya, 2021)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.erf(F.softplus(_upcast(x)))


class ErfAct(BaseActivation):
    """x * erf(a * e^(b x)) with trainable a, b of shape (1,) (Biswas et al., 2021)."""

    def __init__(self, a: float = 0.75, b: float = 0.75) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.full((1,), a))
        self.b = nn.Parameter(torch.full((1,), b))

    def forward(self, x: Tensor) -> Tensor:
        xf = _upcast(x)
        a, b = _scalar(self.a, xf), _scalar(self.b, xf)
        # erf(u) == 1 in every float dtype once u > 6; e^20 gets there for any sane a
        z = (b * xf).clamp(max=20.0)
        return (xf * torch.erf(a * torch.exp(z))).to(x.dtype)


class HardSwish(BaseActivation):
    """x * relu6(x + 3) / 6 (Howard et al., 2019)."""

    supports_inplace = True

    def forward(self, x: Tensor) -> Tensor:
        return F.hardswish(x, inplace=self.inplace)


class HardSwishFunction(torch.autograd.Function):
    """Hard-swish saving only its input."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return F.hardswish(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        d = torch.where(x < -3, torch.zeros_like(x), torch.where(x > 3, torch.ones_like(x), x / 3 + 0.5))
        return grad.mul_(d)


class HardSwishME(BaseActivation):
    def forward(self, x: Tensor) -> Tensor:
        return HardSwishFunction.apply(x)


# --------------------------------------------------------------------------------------
# Bounded
# --------------------------------------------------------------------------------------


class HardSigmoid(BaseActivation):
    """relu6(x + 3) / 6."""

    supports_inplace = True

    def forward(self, x: Tensor) -> Tensor:
        return F.hardsigmoid(x, inplace=self.inplace)


class HardTanh(BaseActivation):
    """clamp(x, min_val, max_val)."""

    supports_inplace = True

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x: Tensor) -> Tensor:
        return torch.clamp(x, self.min_val, self.max_val)


class ISRU(BaseActivation):
    """Inverse square root unit (Carlile et al., 2017): x / sqrt(1 + a x^2)."""

    def __init__(self, a: float = 1.0) -> None:
        super().__init__()
        self.a = a

    def forward(self, x: Tensor) -> Tensor:
        xf = _upcast(x)  # x * x overflows float16 from |x| = 256
        return (xf * torch.rsqrt(1.0 + self.a * xf * xf)).to(x.dtype)


class Softsign(BaseActivation):
    """x / (1 + |x|)."""

    def forward(self, x: Tensor) -> Tensor:
        return x / (1.0 + x.abs())


class ScaledTanh(BaseActivation):
    """LeCun's 1.7159 * tanh(2x / 3) (LeCun et al., 1998)."""

    def forward(self, x: Tensor) -> Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class ParametricTanh(BaseActivation):
    """a * tanh(b x) with trainable a, b of shape (1,)."""

    def __init__(self, a: float = 1.7159, b: float = 2.0 / 3.0) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.full((1,), a))
        self.b = nn.Parameter(torch.full((1,), b))

    def forward(self, x: Tensor) -> Tensor:
        return _scalar(self.a, x) * torch.tanh(_scalar(self.b, x) * x)


class BipolarSigmoid(BaseActivation):
    """2 * sigmoid(x) - 1, i.e. (1 - e^-x) / (1 + e^-x)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(0.5 * x)


class Elliott(BaseActivation):
    """Elliott's sigmoid: 0.5 x / (1 + |x|) + 0.5 (Elliott, 1993)."""

    def forward(self, x: Tensor) -> Tensor:
        return 0.5 * x / (1.0 + x.abs()) + 0.5


class StdClip(BaseActivation):
    """Clips to +- k standard deviations of the activations."""

    def __init__(self, k: float = 3.0) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        bound = self.k * x.detach().float().std().clamp(min=1e-6).to(x.dtype) if x.numel() > 1 else None
        return x if bound is None else torch.clamp(x, -bound, bound)


class SoftClipping(BaseActivation):
    """(1 / a) log((1 + e^(a x)) / (1 + e^(a (x - 1)))): a smooth clamp to [0, 1] (Klimek & Perelstein, 2018)."""

    def __init__(self, a: float = 50.0) -> None:
        super().__init__()
        self.a = a

    def forward(self, x: Tensor) -> Tensor:
        xf = _upcast(x)
        a = self.a
        zero = torch.zeros_like(xf)
        # log(1 + e^z) as logaddexp(z, 0): no overflow, no threshold switch
        return ((torch.logaddexp(a * xf, zero) - torch.logaddexp(a * (xf - 1.0), zero)) / a).to(x.dtype)


class Arctan(BaseActivation):
    """atan(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.atan(x)


class Tanhshrink(BaseActivation):
    """x - tanh(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return x - torch.tanh(x)


class LogSigmoid(BaseActivation):
    """log(sigmoid(x)) = -softplus(-x)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.logsigmoid(x)


class ReLUN(BaseActivation):
    """min(max(0, x), n): a bounded ReLU."""

    supports_inplace = True

    def __init__(self, n: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.n = n

    def forward(self, x: Tensor) -> Tensor:
        return F.hardtanh(x, 0.0, self.n, inplace=self.inplace)


# --------------------------------------------------------------------------------------
# Periodic
# --------------------------------------------------------------------------------------


class Snake(BaseActivation):
    """x + sin^2(alpha x) / alpha with a trainable per-channel alpha of shape (C,)
    (Ziyin et al., 2020); (N, C, *) input, e.g. (N, C, T) audio."""

    def __init__(self, channels: int, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.full((channels,), alpha))

    def forward(self, x: Tensor) -> Tensor:
        alpha = _channel_view(self.alpha, x)
        return x + torch.sin(alpha * x).pow(2) / alpha


class Sine(BaseActivation):
    """sin(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(x)


class Siren(BaseActivation):
    """sin(w0 x) (Sitzmann et al., 2020)."""

    def __init__(self, w0: float = 30.0) -> None:
        super().__init__()
        self.w0 = w0

    def forward(self, x: Tensor) -> Tensor:
        # w0 * x overflows float16 from |x| = 65504 / w0
        return torch.sin(self.w0 * _upcast(x)).to(x.dtype)


class GCU(BaseActivation):
    """Growing cosine unit x * cos(x) (Noel et al., 2021)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.cos(x)


class Cosid(BaseActivation):
    """x - cos(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return x - torch.cos(x)


# --------------------------------------------------------------------------------------
# Others
# --------------------------------------------------------------------------------------


class BentIdentity(BaseActivation):
    """(sqrt(x^2 + 1) - 1) / 2 + x."""

    def forward(self, x: Tensor) -> Tensor:
        return bent_identity(x)


class LiSHT(BaseActivation):
    """x * tanh(x) (Roy et al., 2019)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.tanh(x)


class LiSHTFunction(torch.autograd.Function):
    """LiSHT saving only its input."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return x * torch.tanh(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        with torch.no_grad():
            t = torch.tanh(x)
            d = t + x * (1 - t * t)
        return grad * d


class LiSHTME(BaseActivation):
    def forward(self, x: Tensor) -> Tensor:
        return LiSHTFunction.apply(x)


class Squareplus(BaseActivation):
    """(x + sqrt(x^2 + b)) / 2 (Barron, 2021)."""

    def __init__(self, b: float = 4.0) -> None:
        super().__init__()
        self.b = b

    def forward(self, x: Tensor) -> Tensor:
        return 0.5 * (x + torch.sqrt(x * x + self.b))


class SignedPower(BaseActivation):
    """x * |x|^(gamma - 1): a power law that keeps the sign."""

    def __init__(self, gamma: float = 1.5) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, x: Tensor) -> Tensor:
        return x * x.abs().pow(self.gamma - 1.0)


class SoftExponential(BaseActivation):
    """Soft exponential (Godfrey & Gashler, 2015) with a trainable alpha of shape (1,):
    -log(1 - alpha (x + alpha)) / alpha for alpha < 0, x at 0, (e^(alpha x) - 1) / alpha + alpha above."""

    def __init__(self, alpha: float = 0.0) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.full((1,), alpha))

    def forward(self, x: Tensor) -> Tensor:
        alpha = _scalar(self.alpha, x)
        if self.alpha.item() == 0.0:
            return x
        if self.alpha.item() < 0.0:
            return -torch.log1p(-alpha * (x + alpha)) / alpha
        return torch.expm1(alpha * x) / alpha + alpha


class ACONC(BaseActivation):
    """ACON-C (Ma et al., 2021): (p1 - p2) x sigmoid(beta (p1 - p2) x) + p2 x, with p1, p2
    and beta trainable per channel, of shape (1, C, 1, 1): (N, C, H, W) input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.p1 = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.p2 = nn.Parameter(torch.full((1, channels, 1, 1), 0.25))
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.p1.shape[1]:
            raise ValueError(f"expected (N, {self.p1.shape[1]}, H, W) input, got shape {tuple(x.shape)}")
        p1, p2, beta = self.p1.to(x.dtype), self.p2.to(x.dtype), self.beta.to(x.dtype)
        dpx = (p1 - p2) * x
        return dpx * torch.sigmoid(beta * dpx) + p2 * x


class Gaussian(BaseActivation):
    """exp(-x^2)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.exp(-x * x)


class Hexpo(BaseActivation):
    """Hexpo (Kong & Takatsuka, 2017): -a (e^(-x / b) - 1) for x >= 0, c (e^(x / d) - 1) below."""

    def __init__(self, a: float = 1.0, b: float = 1.0, c: float = 1.0, d: float = 1.0) -> None:
        super().__init__()
        self.a, self.b, self.c, self.d = a, b, c, d

    def forward(self, x: Tensor) -> Tensor:
        pos = -self.a * torch.expm1(-x.clamp(min=0.0) / self.b)
        neg = self.c * torch.expm1(x.clamp(max=0.0) / self.d)
        return torch.where(x >= 0, pos, neg)


class SiLU6(BaseActivation):
    """min(x * sigmoid(x), 6): SiLU capped like ReLU6."""

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x).clamp(max=6.0)


# --------------------------------------------------------------------------------------
# Factories for the per-channel modules
# --------------------------------------------------------------------------------------


def snake_c4() -> nn.Module:
    return Snake(4)


def srelu_c4() -> nn.Module:
    return SReLU(4)


def apl_c4() -> nn.Module:
    return APL(4)


def aconc_c4() -> nn.Module:
    return ACONC(4)


# The known defects, by the target name the gate reports, and the check that should
# catch each one (see README.md for what each defect is).
DEFECTS = {
    "RandomizedReLU": "determinism",
    "MaskedReLU": "special_values",
    "FastReLUFunction": "no_mutation",
    "FastReLU": "no_mutation",
    "LeakyReLUFn": "kinks",
    "CELU": "stability",
    "SELUFunction": "forward_ad",
    "SELUME": "forward_ad",
    "SwishBetaME": "gradcheck",
    "GELUTanhFunction": "gradcheck",
    "GELUTanhME": "gradcheck",
    "SERF": "preserves",
    "HardSwishFunction": "no_mutation",
    "HardSwishME": "no_mutation",
    "HardTanh": "inplace",
    "Squareplus": "stability",
    "ParametricSoftplus": "gradcheck",
    "StdClip": "elementwise",
    "LiSHTFunction": "gradgradcheck",
    "LiSHTME": "gradgradcheck",
    "SignedPower": "kinks",
    "SoftExponential": "param_grads",
}
