"""Memory accounting for activations: what a function saves for backward, and the
live-memory peaks of a realistic training step. Measured, never taken from a spec.

Two instruments, both independent of the device:

* :func:`saved_for_backward` counts what autograd keeps for the backward with
  ``torch.autograd.graph.saved_tensors_hooks``: every tensor a node saves passes
  through the pack hook, whether a hand-written ``Function`` saved it or autograd's
  own derivative formulas did. Saved tensors are counted by storage (a view of the
  input keeps the whole input alive; the input saved twice is kept once), and the
  parameters of the activation do not count.

* :class:`LiveMemory` accounts for live tensor storage with a ``TorchDispatchMode``:
  every aten op runs through it, including those of the backward (dispatch modes are
  part of the thread-local state the autograd engine carries to its worker threads).
  A storage an op returns that is none of its inputs' storages is an allocation; a
  weak reference to the storage's Python object (which PyTorch keeps alive exactly as
  long as the C++ storage) reports its release. The live total and its peak follow.
  This is the technique of torch.distributed's memory tracker, kept to the few lines
  needed here: that tracker is private (and absent from builds without distributed
  support) and tracks far more (modules, optimizer state) than an activation needs.

Why a dispatch mode rather than the profiler's memory events: it is exact and
deterministic (storage sizes, not allocator blocks), works unchanged for CPU, CUDA or
any other device, costs microseconds per op where a profiler session costs tens of
milliseconds to start, and separates the phases of a step (forward, backward) without
reconstructing a timeline from events. Checked against the CPU profiler's memory
events (``profile_memory=True``) on torch 2.13: the whole-step peaks of the block below
agree to 0.4% of one input-sized tensor (the difference is a few bias-sized buffers).
What it cannot see: scratch a kernel allocates for itself without returning it as a
tensor (a reduction's workspace, cuBLAS's), and the allocator's rounding. On CUDA the
allocator's own statistics (:class:`CudaAllocator`) are the second opinion; both are
available by name in :data:`METHODS`.

The realistic step (:func:`measure_step`) puts the activation between two linear
layers: ``x -> Linear(features, w) -> activation -> Linear(w, 1) -> sum``, where the
activation's input has the given shape and ``w`` is its last dimension; then the
backward. The layers make the step honest: the activation's input is a non-leaf that
autograd lets an in-place variant overwrite, and its output is saved by the next
layer anyway, so an activation that saves its output for backward costs nothing more.
The head is one unit wide so that its own output (allocated while the activation's
output is still held) does not hide what the activation costs: with a head as wide as
the activation, ``h + y`` at the activation and ``y + head(y)`` after it are the same
size, and no in-place variant could lower the peak at all.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from verify.internals import TorchDispatchMode, tree_leaves

Fn = Callable[[Tensor], Tensor]

# Input features of the realistic step's first linear layer.
BLOCK_FEATURES = 64


def storage_key(t: Tensor) -> int | None:
    """An identity for the storage under ``t`` (its C++ StorageImpl), or None for a
    tensor without one."""
    try:
        return int(t.untyped_storage()._cdata)
    except (RuntimeError, NotImplementedError, TypeError):
        return None


# -- saved for backward -------------------------------------------------------------
@dataclass(frozen=True)
class SavedStorage:
    """One storage autograd keeps for the backward."""

    role: str  # "input", "output", "input = output" (in place), "other"
    nbytes: int
    dtype: str
    input_sized: bool  # holds at least as many elements as the input

    def describe(self) -> str:
        if self.role == "other":
            return "a bool mask" if self.dtype == "bool" else f"a {self.dtype} tensor"
        what = {"input": "the input", "output": "the output", "input = output": "the output (its overwritten input)"}
        return what[self.role]


@dataclass(frozen=True)
class Saved:
    """What one call saves for backward. "Input-sized tensors saved" counts the distinct
    storages, other than parameters, that hold at least as many elements as the input,
    whatever their dtype (a bool mask of the input's shape counts as one); their bytes
    give the per-element cost. Smaller saved tensors (a scalar, a per-channel copy of
    a parameter) are kept apart in ``other_bytes``."""

    input_numel: int
    input_bytes: int
    storages: tuple[SavedStorage, ...]

    @property
    def count(self) -> int:
        return sum(s.input_sized for s in self.storages)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.storages if s.input_sized)

    @property
    def other_bytes(self) -> int:
        return sum(s.nbytes for s in self.storages if not s.input_sized)

    @property
    def bytes_per_element(self) -> float:
        return self.nbytes / self.input_numel

    @property
    def input_multiple(self) -> float:
        """The saved bytes as a multiple of the input's size."""
        return self.nbytes / self.input_bytes

    def describe(self) -> str:
        """The input-sized storages in words: "the input, 2 float32 tensors, a bool mask"."""
        counts: dict[str, int] = {}
        for s in self.storages:
            if s.input_sized:
                counts[s.describe()] = counts.get(s.describe(), 0) + 1
        parts = [what if n == 1 else f"{n} {what.removeprefix('a ')}s" for what, n in counts.items()]
        return ", ".join(parts) if parts else "nothing input-sized"

    def to_json(self) -> dict[str, Any]:
        return {
            "tensors": self.count,
            "bytes_per_element": self.bytes_per_element,
            "input_multiple": self.input_multiple,
            "other_bytes": self.other_bytes,
            "what": self.describe(),
        }


def saved_for_backward(fn: Fn, x: Tensor, exclude: Iterable[Tensor] = ()) -> tuple[Saved, Tensor]:
    """Call ``fn(x)`` under autograd and account for what it saves for backward.
    ``x`` should require grad (a non-leaf, so that an in-place variant may overwrite
    it); ``exclude`` are tensors that do not count (the activation's parameters).
    Returns the account and the output (keep it to keep the graph alive)."""
    skip = {storage_key(t) for t in exclude}
    records: dict[int, tuple[int, torch.dtype, int]] = {}  # key -> (nbytes, dtype, element size)

    def pack(t: Tensor) -> Tensor:
        key = storage_key(t)
        if key is not None and key not in skip and key not in records:
            records[key] = (t.untyped_storage().nbytes(), t.dtype, t.element_size())
        return t.detach()  # a detached alias: saving an output as itself would make a cycle

    def unpack(t: Tensor) -> Tensor:
        return t

    in_key = storage_key(x)
    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        y = fn(x)
    out_key = storage_key(y) if isinstance(y, Tensor) else None
    storages = []
    for key, (nbytes, dtype, size) in records.items():
        role = ("input = output" if key == in_key == out_key else "input" if key == in_key
                else "output" if key == out_key else "other")
        storages.append(SavedStorage(role, nbytes, str(dtype).removeprefix("torch."), nbytes // size >= x.numel()))
    storages.sort(key=lambda s: (not s.input_sized, ("input", "input = output", "output", "other").index(s.role)))
    return Saved(x.numel(), x.numel() * x.element_size(), tuple(storages)), y


# -- live memory ---------------------------------------------------------------------
class LiveMemory(TorchDispatchMode):
    """Bytes of tensor storage allocated while the mode is active and still alive
    (``current``), and the most there were at once since the last :meth:`reset_peak`
    (``peak``). Storages that existed before are not counted: the measurement starts
    from zero."""

    method = "accounting"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()  # a release can run inside _track (gc)
        self._live: dict[int, tuple[int, int, weakref.ref]] = {}  # key -> (token, nbytes, ref)
        self._tokens = itertools.count()
        self.current = 0
        self.peak = 0

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's __torch_dispatch__ in Dynamo's disable unless told not
        # to, which imports Dynamo on the first call (seconds on a CPU), to guard
        # against compiling inside the mode, which nothing here does. (A torch without
        # this hook only pays the import.)
        return False

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs = {storage_key(t) for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor)}
        for t in tree_leaves(out):
            if isinstance(t, Tensor):
                self._track(t, inputs)
        return out

    def _track(self, t: Tensor, inputs: set[int | None]) -> None:
        key = storage_key(t)
        if key is None or key in inputs:
            return  # a view of, or a write into, an input
        with self._lock:
            if key in self._live:
                return
            storage = t.untyped_storage()
            nbytes, token = storage.nbytes(), next(self._tokens)
            ref = weakref.ref(storage, functools.partial(self._release, key, token))
            self._live[key] = (token, nbytes, ref)
            self.current += nbytes
            self.peak = max(self.peak, self.current)

    def _release(self, key: int, token: int, _ref: object = None) -> None:
        with self._lock:
            entry = self._live.get(key)
            if entry is not None and entry[0] == token:
                del self._live[key]
                self.current -= entry[1]

    def reset_peak(self) -> None:
        self.peak = self.current

    def __exit__(self, *exc: Any) -> Any:
        result = super().__exit__(*exc)
        with self._lock:
            self._live.clear()  # drops the weak references: no callbacks after the measurement
        return result


class CudaAllocator:
    """The CUDA caching allocator's own statistics, with :class:`LiveMemory`'s
    interface: bytes allocated above what was allocated on entry (after emptying the
    cache), and the peak since entry or the last :meth:`reset_peak`. Allocations are
    rounded up to the allocator's 512-byte blocks."""

    method = "cuda_allocator"

    def __init__(self, device: str | torch.device = "cuda") -> None:
        self.device = torch.device(device)
        self._base = 0

    def __enter__(self) -> CudaAllocator:
        torch.cuda.synchronize(self.device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(self.device)
        self._base = torch.cuda.memory_allocated(self.device)
        return self

    def __exit__(self, *exc: Any) -> None:
        torch.cuda.synchronize(self.device)

    @property
    def current(self) -> int:
        return torch.cuda.memory_allocated(self.device) - self._base

    @property
    def peak(self) -> int:
        return torch.cuda.max_memory_allocated(self.device) - self._base

    def reset_peak(self) -> None:
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)


METHODS: dict[str, Callable[[str | torch.device], LiveMemory | CudaAllocator]] = {
    "accounting": lambda device: LiveMemory(),
    "cuda_allocator": CudaAllocator,
}


def default_method(device: str | torch.device) -> str:
    return "cuda_allocator" if torch.device(device).type == "cuda" else "accounting"


# -- the realistic step ----------------------------------------------------------------
@dataclass(frozen=True)
class StepMemory:
    """Live-memory peaks of one run of the realistic step, in bytes above what was
    allocated before it (the input ``x`` and the layers' parameters).

    ``peak_bytes``: the peak of the forward, from ``x`` to the loss (with autograd
    recording in training): what the step holds for the backward plus the
    activation's transient. ``held_bytes``: what is still alive at the end of that
    forward, the memory kept for the backward (training only). ``step_peak_bytes``:
    the peak over forward and backward (the forward's, under no_grad).
    """

    grad: bool
    input_numel: int
    input_bytes: int
    head_bytes: int  # the head's output, alive with the activation's output
    peak_bytes: int
    held_bytes: int | None
    step_peak_bytes: int
    in_place: bool  # the activation returned a tensor over its input's storage
    method: str


def _linear(n_in: int, n_out: int, gen: torch.Generator, device: str | torch.device,
            dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """The weight and bias of a linear layer, drawn as nn.Linear draws them but from
    ``gen``, leaving the global random state alone."""
    bound = 1.0 / math.sqrt(n_in)
    weight, bias = ((torch.rand(shape, generator=gen) * 2 - 1) * bound for shape in ((n_out, n_in), (n_out,)))
    return (weight.to(device=device, dtype=dtype).requires_grad_(),
            bias.to(device=device, dtype=dtype).requires_grad_())


def measure_step(act: Fn, shape: tuple[int, ...], *, grad: bool, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu", method: str | None = None,
                 features: int = BLOCK_FEATURES, seed: int = 0) -> StepMemory:
    """Run ``x -> Linear(features, shape[-1]) -> act -> Linear(shape[-1], 1) -> sum``
    (and the backward, when ``grad``) where the activation's input has ``shape``, and
    measure its memory with ``method`` (:data:`METHODS`; by default the allocator on
    CUDA, the accounting elsewhere)."""
    method = method or default_method(device)
    gen = torch.Generator().manual_seed(seed)
    width = shape[-1]
    lin1 = _linear(features, width, gen, device, dtype)
    head = _linear(width, 1, gen, device, dtype)
    x = torch.randn((*shape[:-1], features), generator=gen).to(device=device, dtype=dtype)
    numel = int(torch.Size(shape).numel())
    itemsize = torch.empty((), dtype=dtype).element_size()

    def forward() -> tuple[Tensor, bool]:
        # Each intermediate is dropped as soon as the next exists, as in a network's
        # `x = layer(x)`: it lives on only where autograd saved it.
        h = F.linear(x, *lin1)
        key = storage_key(h)
        y = act(h)
        in_place = isinstance(y, Tensor) and storage_key(y) == key
        del h
        out = F.linear(y, *head)
        del y
        return out.sum(), in_place

    if method == "cuda_allocator":
        with torch.set_grad_enabled(grad):  # warm up: cuBLAS handles and workspaces
            loss, _ = forward()
            if grad:
                loss.backward()
        del loss
        params = [*lin1, *head, *(act.parameters() if isinstance(act, nn.Module) else ())]
        for p in params:
            p.grad = None
    meter = METHODS[method](device)
    with meter:
        with torch.set_grad_enabled(grad):
            loss, in_place = forward()
        peak, held = meter.peak, meter.current
        step_peak = peak
        if grad:
            meter.reset_peak()
            loss.backward()
            step_peak = max(peak, meter.peak)
        del loss
    return StepMemory(grad=grad, input_numel=numel, input_bytes=numel * itemsize,
                      head_bytes=numel // width * itemsize, peak_bytes=peak,
                      held_bytes=held if grad else None, step_peak_bytes=step_peak, in_place=in_place,
                      method=method)


__all__ = [
    "BLOCK_FEATURES",
    "METHODS",
    "CudaAllocator",
    "LiveMemory",
    "Saved",
    "SavedStorage",
    "StepMemory",
    "default_method",
    "measure_step",
    "saved_for_backward",
    "storage_key",
]
