"""`reference`: the forward and the hand-written backward against the reference
formula, in float64 and in every low-precision dtype."""

from __future__ import annotations

import math
from typing import Any

import torch
import zoo
from torch import Tensor

from acts.spec import Activation, Kind, Properties
from verify.results import Status


def _silu(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


def _spec(functional: Any, name: str = "planted") -> Activation:
    class Module(torch.nn.Module):
        def __init__(self, **_: Any) -> None:
            super().__init__()

        def forward(self, x: Tensor) -> Tensor:
            return functional(x)

    return Activation(name=name, kind=Kind.CUSTOM_BACKWARD, formula="x sigmoid(x)", source="test", module=Module,
                      functional=functional, reference=_silu, properties=Properties(limits=(0.0, math.inf)))


class HalfFastPath(torch.autograd.Function):
    """Planted bug: a 'fast path' whose float32 backward computes the sigmoid in
    float16. Exact in float64 (gradcheck cannot see it), 1e-3 off in float32."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return _silu(x)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x.half()).to(x.dtype) if x.dtype == torch.float32 else torch.sigmoid(x)
        return g * s * (1 + x * (1 - s))


class Lean(torch.autograd.Function):
    """Correct: saves the input only, recomputes the sigmoid."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return _silu(x)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return g * s * (1 + x * (1 - s))


def test_low_precision_backward_fails_in_float32(run: Any) -> None:
    r = run("reference", _spec(HalfFastPath.apply))
    assert r.status is Status.FAIL and "float32" in r.summary, r.summary
    assert r.smallest_input is not None


def test_wrong_constant_in_forward_fails_in_float64(run: Any) -> None:
    """gradcheck passes a consistent forward and backward; only the reference sees
    that the function itself is off (a typo in a constant)."""
    r = run("reference", _spec(lambda x: x * torch.sigmoid(1.0001 * x)))
    assert r.status is Status.FAIL and "float64" in r.summary, r.summary


def test_correct_hand_written_backward_passes(run: Any) -> None:
    r = run("reference", _spec(Lean.apply))
    assert r.status is Status.PASS, r.summary
    assert set(r.details["worst"]) >= {"float64", "float32", "bfloat16", "float16"}


def test_without_a_spec_each_dtype_is_compared_with_float64(run: Any) -> None:
    r = run("reference", torch.nn.SiLU())
    assert r.status is Status.PASS, r.summary
    assert set(r.details["worst"]) == {"float32 vs float64", "bfloat16 vs float64", "float16 vs float64"}


def test_without_a_spec_a_bug_in_one_dtype_fails(run: Any) -> None:
    r = run("reference", zoo.MixedPrecisionMish)
    assert r.status is Status.FAIL, r.summary
    assert "in bfloat16" in r.summary and "float64" in r.summary
    assert r.details["dtype"] == "torch.bfloat16"


def test_without_a_spec_a_float64_only_run_is_a_skip(run: Any) -> None:
    assert run("reference", torch.nn.SiLU(), dtypes=(torch.float64,)).status is Status.SKIP


class Siren(torch.nn.Module):
    """sin(w0 x), w0 = 30 (Sitzmann et al. 2020): correct, and steep. In float32, 30 x is
    rounded before sin sees it, so the gradient 30 cos(30 x) is that of a nearby input;
    without a spec that rounding is allowed, as any eager formula is entitled to it."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(30.0 * x)


def test_without_a_spec_a_steep_correct_function_passes(run: Any) -> None:
    r = run("reference", Siren(), profile="ci")
    assert r.status is Status.PASS, r.summary
