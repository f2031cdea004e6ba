"""`memory`: a fake in-place module and a Function that saves more than its spec
declares fail; an in-place variant that honestly cannot save training memory, torch's
own in-place modules and every in-place variant in `acts` pass, with the numbers to
show it. The accounting itself is checked on known allocations, and on a GPU against
the CUDA allocator."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import zoo
from _subjects import InplaceMish
from torch import Tensor, nn

import acts
from acts import Activation, Kind, Properties
from verify import tolerances as tol
from verify.analysis.memory import LiveMemory, measure_step, saved_for_backward
from verify.checks import CHECKS, Context
from verify.checks.memory import step_shape
from verify.results import Status
from verify.runner import run_check
from verify.subject import from_spec

# -- planted bugs ----------------------------------------------------------------------


class FakeInplaceReLU(nn.Module):
    """Planted bug: advertises ``inplace=True`` and allocates a new output anyway."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x)


class HoardingSiLU(torch.autograd.Function):
    """Planted bug: a SiLU whose backward needs only the input, but which saves the
    input, sigmoid(x) and the output: three input-sized tensors."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x * torch.sigmoid(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        (x,) = inputs
        ctx.save_for_backward(x, torch.sigmoid(x), output)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        x, s, _ = ctx.saved_tensors
        return g * s * (1 + x * (1 - s))


# -- correct but unusual ---------------------------------------------------------------


class SiLUInplaceFunction(torch.autograd.Function):
    """An honest in-place SiLU: it overwrites its input, but its backward needs x, which
    the output does not determine (SiLU is not monotonic), so it keeps a copy."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        if x.requires_grad:  # only in training: under no_grad nothing needs the input
            ctx.save_for_backward(x.clone())
        ctx.mark_dirty(x)
        return x.mul_(torch.sigmoid(x))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return g * s * (1 + x * (1 - s))


def naive_silu(x: Tensor) -> Tensor:
    """SiLU as most people first write it."""
    return x * torch.sigmoid(x)


class StashOnCtx(torch.autograd.Function):
    """Keeps its input alive on ctx rather than through save_for_backward, out of the
    saved-tensor hooks' sight (legal, and a memory cost the step still shows)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.x = x.detach().clone()
        return torch.tanh(x)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return g * (1 - torch.tanh(ctx.x) ** 2)


class _Module(nn.Module):
    """A thin module with an ``inplace`` flag over two functions."""

    def __init__(self, fn: Any, fn_inplace: Any = None, inplace: bool = False) -> None:
        super().__init__()
        self.fn, self.fn_inplace, self.inplace = fn, fn_inplace, inplace

    def forward(self, x: Tensor) -> Tensor:
        return self.fn_inplace(x) if self.inplace else self.fn(x)


def spec_of(name: str, fn: Any, inplace_fn: Any = None, **extra: Any) -> Activation:
    """A small unregistered spec of a SiLU variant."""

    def module(inplace: bool = False) -> nn.Module:
        return _Module(fn, inplace_fn, inplace)

    return Activation(name=name, kind=Kind.CUSTOM_BACKWARD, formula=name, source="test", module=module,
                      functional=fn, reference=naive_silu, inplace=inplace_fn,
                      properties=Properties(limits=(0.0, math.inf)), **extra)


def silu_fn(x: Tensor) -> Tensor:
    return HoardingSiLU.apply(x)


def silu_inplace(x: Tensor) -> Tensor:
    return SiLUInplaceFunction.apply(x)


# -- verdicts -------------------------------------------------------------------------------


def test_fake_inplace_module_fails(run: Any) -> None:
    r = run("memory", FakeInplaceReLU(inplace=True))
    assert r.status is Status.FAIL, r.summary
    assert "allocates a new output" in r.summary
    assert r.details["saving_bytes"] <= 0


def test_saving_more_than_declared_fails(run: Any) -> None:
    r = run("memory", spec_of("hoarding_silu", silu_fn, saved_tensors=1))
    assert r.status is Status.FAIL, r.summary
    assert r.details["saved_tensors"] == 3 and r.details["declared_saved_tensors"] == 1
    assert r.details["saved_bytes_per_element"] == 12.0  # three float32 tensors
    assert "declares 1" in r.summary


def test_naive_silu_saves_two_tensors_and_the_lean_one_one(run: Any) -> None:
    naive = run("memory", naive_silu)
    assert naive.status is Status.PASS, naive.summary
    assert naive.details["saved_tensors"] == 2 and naive.details["saved_bytes_per_element"] == 8.0
    lean = run("memory", acts.get("silu_lean"))
    assert lean.status is Status.PASS, lean.summary
    assert lean.details["saved_tensors"] == 1 and lean.details["saved_bytes_per_element"] == 4.0
    assert lean.details["saved"]["what"] == "the input"
    # Autograd through its reference (x * sigmoid(x), with a -inf guard) keeps x, sigmoid(x) and the guard's mask.
    assert lean.details["naive_saved"]["bytes_per_element"] == 9.0


def test_inplace_that_needs_its_input_passes_when_its_spec_says_so(run: Any) -> None:
    r = run("memory", spec_of("silu_keeps_x", naive_silu, silu_inplace, inplace_saves_training_memory=False))
    assert r.status is Status.PASS, r.summary
    d = r.details
    assert d["inplace_saves_training_memory"] is False
    assert d["inplace_keeps"] == ["a float32 tensor"]
    assert d["no_grad_saving_bytes"] >= tol.MEMORY_INPLACE_MIN_SAVING * d["input_bytes"] - d["input_bytes"] // 256
    assert "cannot save training memory" in r.summary


def test_inplace_that_needs_its_input_fails_when_its_spec_claims_a_saving(run: Any) -> None:
    r = run("memory", spec_of("silu_claims", naive_silu, silu_inplace, inplace_saves_training_memory=True))
    assert r.status is Status.FAIL, r.summary
    assert "needs the input" in r.summary


def test_torch_inplace_modules(run: Any) -> None:
    elu = run("memory", nn.ELU(inplace=True))
    assert elu.status is Status.PASS and elu.details["inplace_saves_training_memory"], elu.summary
    silu = run("memory", nn.SiLU(inplace=True))
    assert silu.status is Status.PASS, silu.summary  # no spec claims a training saving
    assert not silu.details["inplace_saves_training_memory"]
    assert any("cannot save training memory" in f for f in silu.findings)


def test_memory_kept_out_of_the_hooks_sight_is_reported(run: Any) -> None:
    r = run("memory", StashOnCtx)
    assert r.status is Status.PASS, r.summary
    assert any("saved-tensor hooks" in f for f in r.findings), r.findings


def test_per_channel_module_gets_its_channels_at_dimension_1(run: Any) -> None:
    r = run("memory", nn.PReLU(num_parameters=4))
    assert r.status is Status.PASS, r.summary
    assert r.details["input_shape"][1] == 4 and r.details["input_numel"] >= tol.MEMORY_STEP_NUMEL // 2


def test_details_carry_the_numbers(run: Any) -> None:
    d = run("memory", acts.get("elu")).details
    for key in ("saved_bytes_per_element", "declared_saved_tensors", "peak_bytes_out_of_place", "peak_bytes_in_place",
                "saving_bytes", "no_grad_saving_bytes", "method", "device"):
        assert key in d, key
    assert d["method"] == "accounting" and d["device"] == "cpu"


# -- proven, not assumed: every in-place variant in acts that reads its derivative from
# the output lowers the training peak by a whole input-sized tensor -------------------------

def _saving_claims() -> list[str]:
    return [a.name for a in acts.all_activations() if a.inplace is not None and a.inplace_saves_training_memory]


@pytest.mark.parametrize("name", _saving_claims())
def test_inplace_variant_saves_a_whole_input_in_training(name: str) -> None:
    r = run_check(from_spec(acts.get(name)), CHECKS["memory"], Context(profile="quick"))
    d = r.details
    head = d["input_numel"] // d["input_shape"][-1] * 4  # the one-unit head's float32 output
    # One input-sized tensor, less the head's output that the in-place peak includes.
    assert d["saving_bytes"] >= d["input_bytes"] - head - 64, (r.summary, d["saving_bytes"], d["input_bytes"])
    assert r.status is Status.PASS, r.summary


# -- the accounting -------------------------------------------------------------------------


def test_live_memory_counts_allocations_not_views_or_writes() -> None:
    with LiveMemory() as m:
        a = torch.empty(1000)  # 4000 bytes
        b = a.view(10, 100)  # a view: nothing new
        a.add_(1)  # a write into it: nothing new
        c = torch.empty(500)  # 2000 bytes
        del a, b
    assert (m.peak, m.current) == (6000, 2000)
    del c


def test_live_memory_sees_saved_tensors_freed_by_the_backward() -> None:
    leaf = torch.randn(1000, requires_grad=True)
    with LiveMemory() as m:
        y = torch.exp(leaf)  # 4000 bytes, saved by ExpBackward
        loss = y.sum()
        del y
        held = m.current
        loss.backward()
        del loss
    assert held == 4000 + 4  # exp's output and the scalar loss
    assert m.current == 4000  # leaf.grad; the saved output is gone


def test_saved_tensors_are_counted_by_storage() -> None:
    x = torch.randn(8, 16).requires_grad_().clone()
    saved, _ = saved_for_backward(lambda t: t * t, x)  # x saved twice: one storage
    assert saved.count == 1 and saved.storages[0].role == "input"
    saved, _ = saved_for_backward(lambda t: torch.sin(t[:, :4]), x)  # a view keeps all of x
    assert saved.count == 1 and saved.nbytes == x.numel() * 4
    w = nn.Parameter(torch.randn(16))
    saved, _ = saved_for_backward(lambda t: t * w, x, exclude=[w])  # parameters do not count
    assert saved.count == 1 and saved.other_bytes == 0


def test_step_shape_prefers_a_wide_batch() -> None:
    assert step_shape(from_spec(acts.get("relu")), torch.float32, "cpu") == (tol.MEMORY_STEP_NUMEL // 256, 256)
    shape = step_shape(from_spec(acts.get("prelu")), torch.float32, "cpu")
    assert len(shape) == 3 and shape[1] == 4


def test_memory_plot_draws_the_details(run: Any) -> None:
    from verify.report.plots.memory import plot_memory

    picture = plot_memory("elu", run("memory", acts.get("elu")).to_json()["details"])
    assert picture is not None and picture.startswith("<svg") and "training peak" in picture


# -- on a GPU: the accounting against the CUDA caching allocator ------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("name", ["relu", "elu", "hardtanh", "softplus"])
def test_accounting_predicts_the_cuda_allocator_saving(name: str) -> None:
    subject = from_spec(acts.get(name))
    shape = step_shape(subject, torch.float32, "cuda")
    for grad in (True, False):
        saving = {}
        for method in ("accounting", "cuda_allocator"):
            peaks = [measure_step(subject.instance(torch.float32, "cuda", inplace=ip), shape, grad=grad,
                                  device="cuda", method=method) for ip in (False, True)]
            saving[method] = peaks[0].peak_bytes - peaks[1].peak_bytes
            input_bytes = peaks[0].input_bytes
        assert abs(saving["accounting"] - saving["cuda_allocator"]) <= tol.MEMORY_CUDA_AGREEMENT * input_bytes, (
            grad, saving)


@pytest.mark.cuda
def test_check_on_cuda_uses_the_allocator() -> None:
    r = run_check(from_spec(acts.get("elu")), CHECKS["memory"], Context(device="cuda", profile="quick"))
    assert r.status is Status.PASS, r.summary
    assert r.details["method"] == "cuda_allocator" and r.details["device"] == "cuda"
    assert abs(r.details["accounting_saving_bytes"] - r.details["saving_bytes"]) <= (
        tol.MEMORY_CUDA_AGREEMENT * r.details["input_bytes"])


def test_declined_in_place_mode_is_measured_out_of_place_with_the_reason(run: Any) -> None:
    r = run("memory", zoo.GaussianActivation)
    assert r.status is Status.PASS, r.summary
    assert r.details["inplace_declined"] == "GaussianActivation does not support in-place operations."
    assert "in-place mode declined" in r.summary


def test_an_in_place_variant_that_cannot_be_trained_fails_with_the_reason_not_an_error(run: Any) -> None:
    r = run("memory", InplaceMish())
    assert r.status is Status.FAIL, r.summary
    assert r.summary.startswith("the in-place variant's training step cannot run"), r.summary
    assert "overwrites a tensor autograd saved for the backward" in r.summary
