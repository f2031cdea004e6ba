"""The fused kernels (acts.fused): the compiled path computes what the eager path does,
is taken only where it should be, never blocks a first call, and survives a compiler
that fails."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
import time
import warnings
from typing import Any

import pytest
import torch

import acts
from acts import fused

# torch.compile's CPU kernels are C++: without a compiler acts runs eagerly (correctly),
# and there is no fused path to test.
pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None,
                                reason="no C++ compiler for torch.compile's CPU kernels")

# Every activation whose module runs through fused kernels: all those with a built-in,
# except the per-channel PReLUs (a trainable per-channel weight is not fused).
FUSED = [s.name for s in acts.all_activations() if s.builtin is not None and not s.per_channel]


def _values(dtype: torch.dtype) -> torch.Tensor:
    """Random values over the interesting range, and the special ones."""
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(4000, generator=g, dtype=torch.float64) * 4,
                   torch.linspace(-30, 30, 4001, dtype=torch.float64),
                   torch.tensor([0.0, -0.0, 1e-30, -1e-30, 3.0, -3.0, 6.0, 20.0, 1e4, -1e4, float("inf"),
                                 -float("inf"), float("nan")], dtype=torch.float64)])
    return x.to(dtype).reshape(1, -1)


def _grad_out(y: torch.Tensor) -> torch.Tensor:
    return torch.linspace(-2, 2, y.numel(), dtype=y.dtype).reshape(y.shape)


def _run(spec: acts.Activation, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    module = spec.build()
    leaf = x.clone().requires_grad_()
    y = module(leaf)
    y.backward(_grad_out(y))
    assert leaf.grad is not None
    return y.detach(), leaf.grad


def _assert_within_rounding(got: torch.Tensor, want: torch.Tensor, scale: torch.Tensor, n: int = 8) -> None:
    """Fusion changes rounding (one kernel instead of rounded intermediates, vectorised
    transcendental functions), by a few ulps of the terms a formula adds up: ``scale``
    bounds their size. (Mish's derivative at x = 19 adds x * (1 - tanh^2) to tanh: the
    cancellation in 1 - tanh^2 costs x ulps in either form.)"""
    assert torch.equal(got.isnan(), want.isnan()), "NaN in one form only"
    both = ~want.isnan()
    assert torch.equal(got[both & want.isinf()], want[both & want.isinf()]), "infinities differ"
    finite = both & want.isfinite()
    info = torch.finfo(want.dtype)
    err = (got[finite] - want[finite]).abs()
    # Below the normal range (where vectorised code may flush to zero) nothing counts.
    bound = n * info.eps * (want[finite].abs() + scale.nan_to_num(posinf=0)[finite]) + info.tiny
    worst = (err / bound).max().item()
    assert worst <= 1, f"off by {worst:.1f}x the rounding bound"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("name", FUSED)
def test_fused_path_computes_what_the_eager_path_does(name: str, dtype: torch.dtype) -> None:
    spec = acts.get(name)
    x = _values(dtype)
    with fused.configured(policy="off"):
        y_eager, g_eager = _run(spec, x)
    before = fused.compiled_calls()
    with fused.configured(policy="sync", min_numel=1):
        y_fused, g_fused = _run(spec, x)
    assert fused.compiled_calls() - before == 2, "the forward and the backward both ran compiled"
    _assert_within_rounding(y_fused, y_eager, torch.zeros_like(y_eager))
    _assert_within_rounding(g_fused, g_eager, _grad_out(y_eager).abs() * (1 + x.abs()))


def _bfloat16_run(spec: acts.Activation, x: torch.Tensor, grad: torch.Tensor, policy: str) -> tuple[torch.Tensor, ...]:
    leaf = x.clone().requires_grad_()
    with fused.configured(policy=policy, min_numel=1):
        y = spec.build()(leaf)
        y.backward(grad.to(x.dtype))
    assert leaf.grad is not None
    return y.detach(), leaf.grad


@pytest.mark.parametrize("name", FUSED)
def test_fused_bfloat16_is_as_accurate_as_float32_then_rounding(name: str) -> None:
    """Inductor computes a bfloat16 kernel in float32 and rounds its result once: the
    fused bfloat16 values and gradients are within one bfloat16 ulp of the float64 truth
    plus the error float32 itself makes there. (An eager bfloat16 chain rounds after
    every op; its gradients miss that bound by up to hundreds of ulps.)"""
    spec = acts.get(name)
    x = _values(torch.bfloat16)
    grad = _grad_out(x)  # the same bfloat16 values feed every run
    truth = _bfloat16_run(spec, x.double(), grad, "off")
    single = _bfloat16_run(spec, x.float(), grad, "off")
    before = fused.compiled_calls()
    got = _bfloat16_run(spec, x, grad, "sync")
    assert fused.compiled_calls() - before == 2, "the forward and the backward both ran compiled"
    for g, t, s in zip(got, truth, single, strict=True):
        g64, s64 = g.double(), s.double()
        finite = t.isfinite() & s64.isfinite()
        ulp = torch.finfo(torch.bfloat16).eps * t.abs().clamp_min(torch.finfo(torch.bfloat16).tiny)
        bound = ulp + (s64 - t).abs()
        assert ((g64 - t).abs()[finite] <= bound[finite]).all(), ((g64 - t).abs() / bound)[finite].max()


def test_every_fused_kernel_is_called_without_dynamo() -> None:
    """Each activation's compiled kernels are inductor's graphs called directly (no frame
    hook, no guard evaluation: the Kernel's key is the guard), constants included."""
    x = _values(torch.float32)
    with fused.configured(policy="sync", min_numel=1):
        for name in FUSED:
            _run(acts.get(name), x)
    rows = [r for r in fused.report() if r["state"] == "ready" and not r["kernel"].startswith("test.")]
    assert len(rows) >= 2 * len(FUSED) - 2, rows  # ReLU's backward may see a broadcast gradient
    assert [r["kernel"] for r in rows if r["direct"] is False] == []
    assert any(r["consts"] for r in rows), "constants (leaky_relu's slope) are lifted and supplied"


def test_a_miswired_direct_call_is_caught_and_dynamos_call_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The direct call is checked against Dynamo's on random, distinct arguments before
    it is used: a planted miswiring (arguments swapped) is refused."""
    honest = fused._Direct.__call__
    monkeypatch.setattr(fused._Direct, "__call__", lambda self, flat: honest(self, flat[::-1]))
    kernel = fused.Kernel(lambda a, b: a - 2 * b, "test.miswired")
    a, b = torch.full((1 << 16,), 3.0), torch.ones(1 << 16)
    with fused.configured(policy="sync"):
        assert kernel(a, b).eq(1).all() and kernel(a, b).eq(1).all()
    (row,) = [r for r in fused.report() if r["kernel"] == "test.miswired"]
    assert row["state"] == "ready" and row["direct"] is False


SHIFT = torch.ones(1)


def test_a_graph_input_the_kernel_cannot_supply_keeps_dynamos_call() -> None:
    """A kernel reading a global tensor (beyond its contract: a pure function of its
    arguments and float constants) compiles to a graph with an input that is neither an
    argument, the size nor a constant: it is called through Dynamo, which reads it."""
    kernel = fused.Kernel(lambda x: x + SHIFT, "test.global")
    x = torch.zeros(1 << 16)
    with fused.configured(policy="sync"):
        assert kernel(x).eq(1).all() and kernel(x).eq(1).all()
    (row,) = [r for r in fused.report() if r["kernel"] == "test.global"]
    assert row["state"] == "ready" and row["direct"] is False
    assert kernel.compiled_calls == 2


PER_CHANNEL = [s.name for s in acts.all_activations() if s.builtin is not None and s.per_channel]
LAYOUTS = {"nchw": ((4, 8, 16, 33), 8), "batch of features": ((257, 8), 8), "one sample": ((8,), 8),
           "one channel": ((2, 1, 16, 33), 1), "a shared slope": ((3, 5, 7, 11), 1), "batch of one": ((1, 8, 1056), 8)}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", PER_CHANNEL)
def test_fused_per_channel_path_computes_what_the_eager_path_does(name: str, layout: str) -> None:
    """PReLU's fused backward computes the input's gradient and sums the weight's over
    the batch and spatial dimensions in one kernel, for every layout nn.PReLU takes."""
    shape, channels = LAYOUTS[layout]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g, dtype=torch.float32) * 3
    x.view(-1)[:4] = torch.tensor([float("inf"), -float("inf"), 0.0, -0.0])
    grad = torch.randn(shape, generator=g)
    spec = acts.get(name)

    def run() -> tuple[torch.Tensor, ...]:
        module = spec.build(channels=channels)
        with torch.no_grad():
            module.weight.copy_(torch.linspace(-0.5, 1.0, channels))
        leaf = x.clone().requires_grad_()
        y = module(leaf)
        y.backward(grad)
        assert leaf.grad is not None and module.weight.grad is not None
        return y.detach(), leaf.grad, module.weight.grad

    with fused.configured(policy="off"):
        y_eager, gx_eager, gw_eager = run()
    before = fused.compiled_calls()
    with fused.configured(policy="sync", min_numel=1):
        y_fused, gx_fused, gw_fused = run()
    assert fused.compiled_calls() - before == 2, "the forward and the backward both ran compiled"
    _assert_within_rounding(y_fused, y_eager, torch.zeros_like(y_eager))
    _assert_within_rounding(gx_fused, gx_eager, grad.abs())
    # The weight's gradient is a sum: another order of summation may differ by up to
    # eps * (number of terms) * (sum of their magnitudes), per channel.
    dims = [d for d in range(x.dim()) if d != (1 if x.dim() >= 2 else 0)] if channels > 1 else list(range(x.dim()))
    terms = (grad.double() * x.double().clamp(max=0)).nan_to_num(posinf=0, neginf=0).abs()
    magnitude = (terms.sum(dim=dims) if dims else terms).reshape(gw_eager.shape)
    n = x.numel() // channels
    assert torch.equal(gw_fused.isfinite(), gw_eager.isfinite())
    finite = gw_eager.isfinite()
    err = (gw_fused - gw_eager).double().abs()[finite]
    assert (err <= n * torch.finfo(torch.float32).eps * magnitude[finite] + 1e-30).all(), (err, magnitude)


def test_double_backward_and_forward_ad_through_the_fused_prelu() -> None:
    x = torch.randn(4, 8, 64, dtype=torch.float64)
    for name in PER_CHANNEL:
        module = acts.get(name).build(channels=8)
        with fused.configured(policy="sync", min_numel=1):
            fn = type(module).fn
            torch.autograd.gradgradcheck(lambda t, w, fn=fn: fn(t, weight=w),
                                         (x[:, :, :3].clone().requires_grad_(), module.weight.detach().double().requires_grad_()))
            leaf = x.clone().requires_grad_()
            with torch.autograd.forward_ad.dual_level():
                dual = torch.autograd.forward_ad.make_dual(leaf.detach(), torch.ones_like(leaf))
                tangent = torch.autograd.forward_ad.unpack_dual(module(dual)).tangent
            (g,) = torch.autograd.grad(module(leaf).sum(), leaf)
        torch.testing.assert_close(tangent, g)


def test_double_backward_and_forward_ad_run_eagerly_through_the_fused_function() -> None:
    spec = acts.get("elu")
    x = torch.randn(3000, dtype=torch.float64, requires_grad=True)
    with fused.configured(policy="sync", min_numel=1):
        torch.autograd.gradgradcheck(spec.build(alpha=0.5), (x[:64].detach().requires_grad_(),))
        y = spec.build(alpha=0.5)(x)
        assert type(y.grad_fn).__name__.startswith("EluFusedFunction"), y.grad_fn
        (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = torch.autograd.grad(g.sum(), x)
        with torch.autograd.forward_ad.dual_level():
            dual = torch.autograd.forward_ad.make_dual(x.detach(), torch.ones_like(x))
            tangent = torch.autograd.forward_ad.unpack_dual(spec.build(alpha=0.5)(dual)).tangent
    x2 = x.detach().clone().requires_grad_()
    (g2,) = torch.autograd.grad(torch.nn.functional.elu(x2, 0.5).sum(), x2, create_graph=True)
    (gg2,) = torch.autograd.grad(g2.sum(), x2)
    torch.testing.assert_close(gg, gg2)
    torch.testing.assert_close(tangent, g2.detach())


def _marked() -> fused.Kernel:
    """A kernel whose compiled form is told apart from its eager one."""

    def fn(x: torch.Tensor) -> torch.Tensor:
        return x + 1 if torch.compiler.is_compiling() else x

    return fused.Kernel(fn, "test.marked")


def test_the_compiled_form_runs_only_where_it_should() -> None:
    kernel = _marked()
    big, small = torch.zeros(1 << 16), torch.zeros(8)
    with fused.configured(policy="sync"):
        assert kernel(big).eq(1).all(), "a large tensor takes the compiled path"
        assert kernel(small).eq(0).all(), "a small one runs eagerly"
        assert kernel(big[::2]).eq(0).all(), "so does a strided one"
        assert kernel(big.reshape(256, 256).t()).eq(0).all(), "and a non-contiguous one"
        assert kernel(big.reshape(256, 256)).eq(1).all().item() and kernel(big.reshape(256, 256)).shape == (256, 256)
        needs_grad = big.clone().requires_grad_()
        assert kernel(needs_grad).eq(0).all(), "a differentiable call is eager"
        with torch.no_grad():
            assert kernel(needs_grad).eq(1).all()
        assert torch.vmap(kernel)(big.reshape(256, 256)).eq(0).all(), "torch.func transforms are eager"
    with fused.configured(policy="off"):
        assert kernel(big).eq(0).all(), "policy off never compiles"


def test_a_first_call_never_waits_for_the_compiler() -> None:
    kernel = _marked()
    big = torch.zeros(1 << 17)
    busy = threading.Event()
    with fused.configured(policy="background"):
        fused._submit(lambda: busy.wait(60))  # the compiler thread is busy with something else
        started = time.perf_counter()
        first = kernel(big)
        waited = time.perf_counter() - started
        busy.set()
        assert first.eq(0).all(), "the first call ran eagerly"
        assert waited < 0.5, waited
        assert fused.drain(timeout=120)
        assert kernel(big).eq(1).all()
    assert any(r["kernel"] == "test.marked" and r["compile_s"] for r in fused.report())


def test_a_kernel_that_cannot_compile_warns_once_and_stays_correct() -> None:
    def breaks(x: torch.Tensor) -> torch.Tensor:
        return x * len(x.tolist())  # data-dependent Python: no full graph

    kernel = fused.Kernel(breaks, "test.breaks")
    x = torch.ones(1 << 16)
    with fused.configured(policy="sync"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = [kernel(x) for _ in range(3)]
    assert all(o.eq(1 << 16).all() for o in out)
    messages = [str(w.message) for w in caught if "test.breaks" in str(w.message)]
    assert len(messages) == 1 and "running eagerly" in messages[0], messages
    assert [r["state"] for r in fused.report() if r["kernel"] == "test.breaks"] == ["failed"]


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="policy must be one of"):
        with fused.configured(policy="fast"):
            pass


def _child_calls_kernels(conn: Any, ready: fused.Kernel) -> None:
    torch.set_num_threads(1)  # as DataLoader workers do: GNU OpenMP cannot run after a fork
    queued = _marked()
    big = torch.zeros(1 << 17)
    conn.send((fused.SETTINGS.policy, bool(ready(big).eq(0).all()), bool(queued(big).eq(0).all()), fused.pending()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_runs_eagerly_and_never_hangs() -> None:
    """Forked while the parent's compiler thread is busy (as a DataLoader worker may
    be), a child neither deadlocks on the inherited queue nor waits for, or runs, the
    parent's compilations: it runs eagerly."""
    ready = _marked()
    with fused.configured(policy="sync"):
        assert ready(torch.zeros(1 << 17)).eq(1).all()
    busy = threading.Event()
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    with fused.configured(policy="background"):
        fused._submit(lambda: busy.wait(60))
        _marked()(torch.zeros(1 << 17))  # queued behind the busy job: pending in the parent
        assert fused.pending() >= 1
        proc = ctx.Process(target=_child_calls_kernels, args=(child, ready))
        proc.start()
        try:
            assert parent.poll(60), "the child hung"
            assert parent.recv() == ("off", True, True, 0)
        finally:
            busy.set()
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    assert proc.exitcode == 0
