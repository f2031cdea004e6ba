"""Helpers shared by the checks that call a subject on whole tensors and compare the
results (`preserves`, `elementwise`, `no_mutation`, `determinism`, `inplace`,
`compile`): calling with gradients, comparing bit for bit or in ulps, and the
layouts of one input (non-contiguous, channels-last).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from hypothesis import strategies as st
from torch import Tensor, nn

from verify.analysis.kinkscan import kinks as kinks_of
from verify.strategies import away_from, domain_range, falsify
from verify.subject import Subject

T = TypeVar("T")
# What a check found wrong: a one-line reason and JSON-able details.
Problem = tuple[str, dict[str, Any]]

Fn = Callable[[Tensor], Tensor]

# What a subject raises on an input it cannot handle (a view of a non-contiguous
# tensor, a shape it does not expect). Where handling the input is the thing a check
# tests, these are judged; anything else propagates and the runner reports an error.
CALL_ERRORS = (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError, AssertionError)

_BITS = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.int8}


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def probe_input(subject: Subject, width: float = 3.0) -> np.ndarray:
    """A plain float64 input in the subject's layout: evenly spaced values inside its
    domain (within ``width`` of 0), kept off its kinks."""
    shape = subject.shape()
    n = int(np.prod(shape))
    lo, hi = domain_range(subject.domain(), width)
    values = np.linspace(lo, hi, n + 2)[1:-1]
    return away_from(kinks_of(subject))(values).reshape(shape)


def search(strategy: st.SearchStrategy[T], judge: Callable[[T], Problem | None], profile: str,
           probe: T) -> tuple[T, Problem] | None:
    """An example on which ``judge`` finds a problem, with the problem: ``probe``
    first (a fault that does not depend on the values shows there at once, with no
    search), then the smallest example hypothesis draws and shrinks to."""
    problem = judge(probe)
    if problem is not None:
        return probe, problem

    def prop(example: T) -> str | None:
        found = judge(example)
        return None if found is None else found[0]

    found = falsify(strategy, prop, profile)
    if found is None:
        return None
    example, reason = found
    return example, judge(example) or (reason, {})


def channel_dependent(subject: Subject) -> bool:
    """Whether the function may differ between channels (dimension 1): a spec that
    declares a per-channel parameter or channelwise behaviour, or, with no spec, a
    trainable parameter with more than one entry (``nn.PReLU(num_parameters=C)``'s (C,)
    weight, ACON-C's (1, C, 1, 1) p1)."""
    if subject.spec is not None:
        return subject.spec.per_channel or subject.spec.channelwise
    return any(p.numel() > 1 for _, p in subject.parameters(subject.factory()))


def out_of_place(fn: Fn) -> tuple[Fn, str | None]:
    """The out-of-place form of a fresh instance: a module built with ``inplace=True``
    (a subject made from ``nn.ReLU(inplace=True)``) gets ``inplace=False``, with a note."""
    if isinstance(fn, nn.Module) and getattr(fn, "inplace", None) is True:
        # A fresh instance: nothing else sees the change.
        fn.inplace = False  # type: ignore[assignment]
        return fn, "the subject is built with inplace=True; its out-of-place form is tested with inplace=False"
    return fn, None


def upstream_grad(shape: Sequence[int], dtype: torch.dtype, device: str | torch.device, seed: int = 0) -> Tensor:
    """An incoming gradient in [0.5, 1.5) from a fixed seed. Drawn in float64 and
    rounded once, it uses the whole mantissa of ``dtype``: a product with it is exactly
    representable in a narrower dtype only by a chance of about 2**-16 per element."""
    # A copy: a backward may write into its incoming gradient.
    return _upstream_grad(tuple(shape), dtype, str(device), seed).clone()


@functools.lru_cache(maxsize=64)
def _upstream_grad(shape: tuple[int, ...], dtype: torch.dtype, device: str, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen, dtype=torch.float64) + 0.5).to(device=device, dtype=dtype)


def value_and_grads(fn: Fn, x: Tensor, params: Sequence[Tensor] = (), gy: Tensor | None = None,
                    wrt: Tensor | None = None) -> tuple[Tensor, list[Tensor | None]]:
    """``y = fn(x)`` and the gradients of ``<y, gy>`` with respect to ``wrt`` (``x`` when
    not given; it must require grad) and each parameter. ``gy`` defaults to
    :func:`upstream_grad`. A gradient autograd does not produce is ``None``, and all are
    ``None`` when the output carries no gradient at all."""
    y = fn(x)
    if not isinstance(y, Tensor):
        raise TypeError(f"the subject returned {type(y).__name__}, not a tensor")
    inputs = [x if wrt is None else wrt, *params]
    if not y.requires_grad:
        return y, [None] * len(inputs)
    if gy is None:
        gy = upstream_grad(y.shape, y.dtype, y.device)
    grads = torch.autograd.grad(y, inputs, gy, allow_unused=True)
    return y, list(grads)


def tracked_copy(x: Tensor) -> tuple[Tensor, Tensor]:
    """A leaf that requires grad, and a copy of it with exactly ``x``'s strides that
    autograd tracks back to the leaf: a subject that works in place (a module built with
    ``inplace=True``) may overwrite the copy, never the leaf, and gradients reach the leaf."""
    leaf = x.detach().clone().requires_grad_()
    inp = torch.empty_strided(tuple(x.shape), x.stride(), dtype=x.dtype, device=x.device)
    with torch.enable_grad():
        inp.copy_(leaf)
    return leaf, inp


def same_bits(a: Tensor, b: Tensor) -> bool:
    """Bitwise equality, except that any NaN equals any NaN (payloads aside)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    a, b = a.detach(), b.detach()
    if not a.is_floating_point() or a.element_size() not in _BITS:
        return torch.equal(a, b)
    nan_a, nan_b = torch.isnan(a), torch.isnan(b)
    if not torch.equal(nan_a, nan_b):
        return False
    bits = _BITS[a.element_size()]
    return torch.equal(a.masked_fill(nan_a, 0).contiguous().view(bits), b.masked_fill(nan_b, 0).contiguous().view(bits))


def ulps_apart(a: Tensor, b: Tensor, scale: float | Tensor = 0.0) -> Tensor:
    """|a - b| elementwise, in units of the spacing of ``a``'s dtype at
    max(|a|, |b|, scale). ``scale`` keeps the unit from shrinking where the values pass
    through zero. Equal values (a NaN with a NaN, an infinity with itself) are 0 apart;
    a NaN or an infinity against anything else is infinitely far."""
    a = a.detach()
    b = b.detach().to(a.dtype)
    if torch.equal(a, b):  # the common case, in one comparison (a NaN anywhere goes the long way)
        return torch.zeros(a.shape, dtype=torch.float64, device=a.device)
    floor = torch.as_tensor(scale, device=a.device).detach().abs().to(a.dtype)
    m = torch.maximum(torch.maximum(a.abs(), b.abs()), floor)
    spacing = (torch.nextafter(m, torch.full_like(m, math.inf)) - m).double()
    d = (a.double() - b.double()).abs() / spacing
    same = (a == b) | (torch.isnan(a) & torch.isnan(b))
    d = torch.where(torch.isnan(d), math.inf, d)
    return torch.where(same, 0.0, d)


def worst(d: Tensor) -> tuple[float, tuple[int, ...]]:
    """The largest entry of ``d`` and where it is."""
    if d.numel() == 0:
        return 0.0, ()
    i = int(torch.argmax(d.flatten()))
    return float(d.flatten()[i]), position(d, i)


def position(t: Tensor, i: int) -> tuple[int, ...]:
    """The index of the ``i``-th element of ``t`` in row-major order."""
    return tuple(int(k) for k in np.unravel_index(i, tuple(t.shape))) if t.dim() else ()


def noncontiguous(x: Tensor) -> Tensor:
    """The values of ``x`` in a non-contiguous layout: the dimensions reversed in
    memory (a transposed view) for two or more dimensions, every other element of a
    buffer twice as long for one."""
    x = x.detach()
    if x.dim() >= 2:
        rev = tuple(reversed(range(x.dim())))
        return x.permute(rev).contiguous().permute(rev)
    buf = torch.zeros((2 * x.numel(),), dtype=x.dtype, device=x.device)
    buf[::2] = x.reshape(-1)
    return buf[::2].reshape(x.shape)


def describe(t: Any) -> str:
    if not isinstance(t, Tensor):
        return type(t).__name__
    return f"{dtype_name(t.dtype)} {tuple(t.shape)} on {t.device}"
