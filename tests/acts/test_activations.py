"""Every registered activation against its own declarations."""

from __future__ import annotations

import math

import pytest
import torch

import acts
from acts.spec import Kind

SPECS = list(acts.all_activations())
IDS = [s.name for s in SPECS]
DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]


def _x(spec: acts.Activation, values: torch.Tensor) -> torch.Tensor:
    """Values laid out (N, C) so that per-channel and channel-alternating activations
    see several channels, clipped into the domain."""
    lo, hi = spec.domain_at()
    values = values.clamp(lo + 1e-3 if math.isfinite(lo) else -math.inf, hi - 1e-3 if math.isfinite(hi) else math.inf)
    return values.reshape(-1, 4) if values.numel() % 4 == 0 else values.reshape(1, -1)


def _module(spec: acts.Activation, dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    return spec.build(channels=4 if spec.per_channel else None).to(dtype)


def _ref(spec: acts.Activation, module: torch.nn.Module, x: torch.Tensor, fn: object) -> torch.Tensor:
    values = {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in module.param_values().items()}
    return fn(x, **values)


def test_the_registry_covers_the_three_kinds() -> None:
    kinds = {k: sum(s.kind is k for s in SPECS) for k in Kind}
    assert len(SPECS) >= 24, IDS
    assert all(n >= 6 for n in kinds.values()), kinds
    assert sum(s.inplace is not None for s in SPECS) >= 6


# The implementation against its independent oracle: test_oracle.py.
@pytest.mark.parametrize("spec", [s for s in SPECS if s.builtin is not None], ids=lambda s: s.name)
def test_forward_equals_the_builtin(spec: acts.Activation) -> None:
    x = _x(spec, torch.linspace(-20, 20, 4004, dtype=torch.float64))
    m = _module(spec)
    torch.testing.assert_close(m(x), _ref(spec, m, x, spec.builtin), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_module_keeps_dtype_and_shape(spec: acts.Activation, dtype: torch.dtype) -> None:
    m = _module(spec, dtype)
    # Features at dimension 1, or last for a spec that states its layout there.
    last = (spec.layout or "").endswith(":-1")
    for shape in [(3, 4), (2, 5, 4), (2, 3, 3, 4)] if last else [(3, 4), (2, 4, 5), (2, 4, 3, 3)]:
        x = torch.randn(shape, dtype=dtype)
        y = m(x)
        # A gated activation's output is half as wide along the dimension it splits.
        want = (*shape[:-1], shape[-1] // 2) if (spec.layout or "").startswith("gated") else shape
        assert y.shape == want and y.dtype == dtype


@pytest.mark.parametrize("spec", [s for s in SPECS if s.inplace is not None], ids=lambda s: s.name)
def test_inplace_variant_matches(spec: acts.Activation) -> None:
    x = torch.randn(8, 4, 5, dtype=torch.float64) * 4
    out = _module(spec)(x)
    m = spec.build(inplace=True, channels=4 if spec.per_channel else None).double()
    y = x.clone()
    z = m(y)
    assert z.data_ptr() == y.data_ptr()
    torch.testing.assert_close(z, out, rtol=0, atol=0)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_declared_value_at_zero(spec: acts.Activation) -> None:
    x = torch.zeros(2, 4, dtype=torch.float64)
    m = _module(spec)
    values = m(x).flatten().tolist()
    assert all(v == pytest.approx(spec.properties.value_at_zero, abs=1e-12) for v in values)


def test_soft_exponential_alpha_gradient_at_zero_is_the_limit() -> None:
    spec = acts.get("soft_exponential")
    m = spec.build(alpha=0.0).double()
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    m(x).sum().backward()
    assert m.alpha.grad is not None
    torch.testing.assert_close(m.alpha.grad, (1 + x**2 / 2).sum(), rtol=1e-12, atol=1e-12)
    # and both branches approach it from either side
    for a in (1e-7, -1e-7):
        ma = spec.build(alpha=a).double()
        ma(x).sum().backward()
        torch.testing.assert_close(ma.alpha.grad, m.alpha.grad, rtol=1e-5, atol=0)


def test_every_spec_declares_limits_and_a_source() -> None:
    for s in SPECS:
        assert len(s.properties.limits) == 2, s.name
        assert s.formula, s.name
        doc = __import__(s.module.__module__, fromlist=["_"]).__doc__ or ""
        assert s.source and len(doc) > 40, f"{s.name}: the module docstring gives the formula and the paper"


@pytest.mark.parametrize("spec", [s for s in SPECS if s.kind is Kind.CUSTOM_BACKWARD], ids=lambda s: s.name)
def test_custom_backward_declares_saved_tensors(spec: acts.Activation) -> None:
    assert spec.saved_tensors is not None and spec.saved_tensors >= 0
