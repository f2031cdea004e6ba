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

from verify.subject import Subject

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


def by_channel(subject: Subject, t: Tensor) -> Tensor:
    """A tensor laid out by :func:`lay` as (channels, values)."""
    if len(subject.base_shape) >= 3:
        return t.reshape(subject.base_shape[1], -1)
    return t.T


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
        g = by_channel(subject, (torch.zeros_like(x) if g is None else g).detach())
    return by_channel(subject, y.detach()), g

