"""Helpers shared by the edge checks (`special_values`, `stability`): evaluating a
subject value by value while calling it with the input layout it accepts.

A check here judges a function at a 1-d set of values (the infinities, a grid of
magnitudes). The subject may be per-channel or channelwise, so every value is put on
every channel of the subject's layout (:attr:`Subject.base_shape`, channels at
dimension 1) and the results come back as a (channels, values) array.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from verify.subject import Subject, value_rows

Fn = Callable[[Tensor], Tensor]


def lay(subject: Subject, values: Tensor) -> Tensor:
    """An input in the subject's layout that holds every value on every channel:
    (1, C, n, 1, ...) for a layout of three or more dimensions, (n, C) otherwise (a
    1-d layout is then called row by row, see :func:`call`)."""
    base = subject.base_shape
    n = values.numel()
    if len(base) >= 3:
        c = base[1]
        x = values.reshape(1, 1, n).expand(1, c, n)
        return x.reshape((1, c, n) + (1,) * (len(base) - 3)).contiguous()
    c = base[1] if len(base) == 2 else base[0]
    return values.reshape(n, 1).expand(n, c).contiguous()


def call(subject: Subject, fn: Fn, x: Tensor) -> Tensor:
    """``fn`` on a copy of ``x`` laid out by :func:`lay`: an in-place subject must not
    write into the caller's tensor (nor into a leaf that requires grad)."""
    if len(subject.base_shape) == 1:
        return torch.stack([fn(row.clone()) for row in x])
    return fn(x.clone())


def by_channel(subject: Subject, t: Tensor, n: int | None = None) -> Tensor:
    """A tensor laid out by :func:`lay` (of ``n`` values) as (channels, values). The
    output of a shape-changing activation (f(x) and f(-x) concatenated along the
    channels) comes back with more rows than there are channels: one per output
    position of each value."""
    dim = 2 if len(subject.base_shape) >= 3 else 0
    return value_rows(t, dim, t.shape[dim] if n is None else n)


def evaluate(subject: Subject, fn: Fn, values: Tensor, grad: bool = False) -> tuple[Tensor, Tensor | None]:
    """f at every value on every channel, shape (channels, n); with ``grad``, also the
    input gradient of the sum of the outputs (zero where autograd gives none)."""
    x = lay(subject, values)
    if grad:
        x.requires_grad_()
    y = call(subject, fn, x)
    g = None
    if grad:
        if y.requires_grad:
            (g,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
        g = by_channel(subject, (torch.zeros_like(x) if g is None else g).detach(), values.numel())
    return by_channel(subject, y.detach(), values.numel()), g


def first_nonfinite_op(fn: Fn, x: Tensor) -> str | None:
    """The first operation inside ``fn(x)`` (forward, then the backward of the sum) that
    turns finite inputs into a non-finite result, as "aten.exp gave inf" (None: none
    does, or the subject runs no torch operation visibly)."""
    from verify.internals import TorchDispatchMode, tree_leaves

    found: list[str] = []

    def finite(t: object) -> bool:
        return not (isinstance(t, Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()))

    class Watch(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if not found and all(finite(a) for a in tree_leaves((args, kwargs))) and \
                    not all(finite(o) for o in tree_leaves(out)):
                bad = next(o for o in tree_leaves(out) if not finite(o))
                value = bad[~torch.isfinite(bad)].flatten()[0]
                found.append(f"{func.overloadpacket.__name__} gave {float(value)}")
            return out

    leaf = x.detach().clone().requires_grad_()
    try:
        with Watch():
            y = fn(leaf.clone())
            if isinstance(y, Tensor) and y.requires_grad:
                torch.autograd.grad(y.sum(), leaf, allow_unused=True)
    except Exception:  # the cause is a courtesy; the caller reports the value anyway
        pass
    return found[0] if found else None
