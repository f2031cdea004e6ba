"""A small activation zoo written the way public zoos are: a base class, modules with
and without arguments, a Function with its module, helpers, imports. Some are wrong."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn import GELU  # noqa: F401  (imported, not defined here: never discovered)


class BaseAct(nn.Module):
    """Base class: no forward of its own."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace


class Swish(BaseAct):
    def forward(self, x):
        return x * torch.sigmoid(x)


class Mish(nn.Module):
    def forward(self, x):
        return x * torch.tanh(F.softplus(x))


class BentIdentity(nn.Module):
    def forward(self, x):
        return (torch.sqrt(x * x + 1) - 1) / 2 + x


class SwishBeta(nn.Module):
    def __init__(self, beta):  # needs an argument
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)


class HardSwishFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * F.relu6(x + 3) / 6

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.where(x < -3, 0.0, torch.where(x > 3, 1.0, (2 * x + 3) / 6))


class ScaledFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x * scale

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


def make_gelu() -> nn.Module:
    return nn.GELU(approximate="tanh")


def swish(x):
    return x * torch.sigmoid(x)


def helper_constant():
    return math.pi
