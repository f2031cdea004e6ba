"""`param_grads`: parameters that get no gradient, or a wrong one, fail and are named."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from verify.results import Status


class _PairFunction(torch.autograd.Function):
    """a * tanh(b x), the two-parameter pattern of the tutorial."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, a: Tensor, b: Tensor) -> Tensor:
        ctx.save_for_backward(x, a, b)
        return a * torch.tanh(b * x)


class TutorialNone(_PairFunction):
    """Planted bug, verbatim from the tutorial: the backward returns None, None for
    the parameters."""

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        x, a, b = ctx.saved_tensors
        t = torch.tanh(b * x)
        return g * a * b * (1 - t * t), None, None


class ZeroForB(_PairFunction):
    """Planted bug: b's gradient written as zeros."""

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x, a, b = ctx.saved_tensors
        t = torch.tanh(b * x)
        return g * a * b * (1 - t * t), (g * t).sum().reshape(a.shape), torch.zeros_like(b)


class Correct(_PairFunction):
    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x, a, b = ctx.saved_tensors
        t = torch.tanh(b * x)
        d = g * a * (1 - t * t)
        return d * b, (g * t).sum().reshape(a.shape), (d * x).sum().reshape(b.shape)


def _module(fn: type[torch.autograd.Function]) -> nn.Module:
    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Parameter(torch.tensor(1.7159))
            self.b = nn.Parameter(torch.tensor(2 / 3))

        def forward(self, x: Tensor) -> Tensor:
            return fn.apply(x, self.a, self.b)

    return Pair()


class DetachedSlope(nn.Module):
    """Planted bug: the parameter is used through .detach()."""

    def __init__(self) -> None:
        super().__init__()
        self.slope = nn.Parameter(torch.tensor(0.1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.where(x > 0, x, self.slope.detach() * x)


def test_none_gradients_fail_and_are_named(run: Any) -> None:
    r = run("param_grads", _module(TutorialNone))
    assert r.status is Status.FAIL and "a, b" in r.summary, r.summary


def test_zero_gradient_fails_and_is_named(run: Any) -> None:
    r = run("param_grads", _module(ZeroForB))
    assert r.status is Status.FAIL and "'b'" in r.summary, r.summary


def test_detached_parameter_fails(run: Any) -> None:
    r = run("param_grads", DetachedSlope())
    assert r.status is Status.FAIL and "slope" in r.summary


def test_correct_function_passes(run: Any) -> None:
    assert run("param_grads", _module(Correct)).status is Status.PASS


def test_per_channel_builtin_passes(run: Any) -> None:
    assert run("param_grads", nn.PReLU(num_parameters=6)).status is Status.PASS


def test_no_parameters_is_a_skip(run: Any) -> None:
    assert run("param_grads", nn.Tanh()).status is Status.SKIP


class _SwishBeta(torch.autograd.Function):
    """Planted bug: Swish-beta, x * sigmoid(beta x), whose beta gradient drops a factor
    x of the chain rule (d/dbeta = x^2 s (1 - s), written x s (1 - s))."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, beta: Tensor) -> Tensor:
        s = torch.sigmoid(beta * x)
        ctx.save_for_backward(x, beta, s)
        return x * s

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor]:
        x, beta, s = ctx.saved_tensors
        ds = s * (1 - s)
        return g * (s + beta * x * ds), (g * x * ds).sum().reshape(beta.shape)


class SwishBeta(nn.Module):
    def __init__(self, beta: float = 1.5) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.tensor(beta))

    def forward(self, x: Tensor) -> Tensor:
        return _SwishBeta.apply(x, self.beta)


def test_a_wrong_gradient_names_the_parameter_x_and_both_values(run: Any) -> None:
    r = run("param_grads", SwishBeta())
    assert r.status is Status.FAIL, r.summary
    d = r.details
    assert r.summary.startswith(f"gradient of parameter 'beta' disagrees with finite differences at x={d['x']:.6g} ("), \
        r.summary
    assert r.summary.endswith(f"autograd {d['analytical']:.6g}, numerical {d['numerical']:.6g}"), r.summary
    assert "Jacobian" not in r.summary
    # Both values are those of one element at the planted beta: x s (1 - s) against x^2 s (1 - s).
    beta = float((d["params"] or {}).get("beta", 1.5))
    s = 1 / (1 + torch.exp(torch.tensor(-beta * d["x"], dtype=torch.float64)))
    ds = float(s * (1 - s))
    assert abs(d["analytical"] - d["x"] * ds) < 1e-9
    assert abs(d["numerical"] - d["x"] ** 2 * ds) < 1e-5


class NumpyPReLU(nn.Module):
    """Planted bug: PReLU evaluated through NumPy and wrapped back into a tensor, which
    cuts the output, and with it the slope, from the graph."""

    def __init__(self) -> None:
        super().__init__()
        self.slope = nn.Parameter(torch.tensor(0.25))

    def forward(self, x: Tensor) -> Tensor:
        a, s = x.detach().cpu().numpy(), self.slope.item()
        return torch.from_numpy((a * (a > 0) + s * a * (a <= 0)).astype(a.dtype)).to(x.device)


def test_an_output_cut_from_the_graph_leaves_every_parameter_without_a_gradient(run: Any) -> None:
    r = run("param_grads", NumpyPReLU())
    assert r.status is Status.FAIL, r.summary
    assert r.summary.startswith("parameter(s) slope require grad but receive no gradient (None)"), r.summary
