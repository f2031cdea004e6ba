"""Input strategies, shared by every check, and the search for a smallest failure.

Values are drawn in float64 with hypothesis (bfloat16 has no numpy dtype; a check casts
to the dtype it tests) and moved out of a small margin around every known kink, so that
finite differences never straddle one: what happens *at* a kink is the ``kinks``
check's business.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from verify.profiles import hypothesis_settings
from verify.tolerances import KINK_MARGIN

T = TypeVar("T")


def values(lo: float = -8.0, hi: float = 8.0, large: float | None = None) -> st.SearchStrategy[float]:
    """Floats in [lo, hi]; with ``large``, also magnitudes spread log-uniformly up
    to ``large`` (clipped to [lo, hi] when the domain is bounded)."""
    base = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if large is None:
        return base
    big = st.tuples(st.floats(0.0, math.log10(large)), st.sampled_from([-1.0, 1.0])).map(
        lambda t: t[1] * 10.0 ** t[0]
    )
    return st.one_of(base, big.map(lambda v: min(max(v, lo), hi)))


def away_from(points: Sequence[float], margin: float = KINK_MARGIN) -> Callable[[np.ndarray], np.ndarray]:
    """A map that pushes values within ``margin`` of a point to the margin's edge."""
    pts = np.asarray(sorted(points), dtype=np.float64)

    def push(a: np.ndarray) -> np.ndarray:
        a = a.copy()
        for p in pts:
            near = np.abs(a - p) < margin
            a[near] = p + np.where(a[near] >= p, margin, -margin)
        return a

    return push


def untied(axis: int, margin: float = KINK_MARGIN) -> Callable[[np.ndarray], np.ndarray]:
    """A map that keeps the values of every vector along ``axis`` at least ``margin``
    apart (each pushed above its next smaller one): a tie between elements is a kink of
    a vector-valued function (maxout, sparsemax), and differences must not straddle it."""

    def push(a: np.ndarray) -> np.ndarray:
        if a.ndim == 0:
            return a
        v = np.moveaxis(a.copy(), axis, -1)
        order = np.argsort(v, axis=-1, kind="stable")
        s = np.take_along_axis(v, order, axis=-1)
        for i in range(1, s.shape[-1]):
            s[..., i] = np.maximum(s[..., i], s[..., i - 1] + margin * np.maximum(1.0, np.abs(s[..., i - 1])))
        np.put_along_axis(v, order, s, axis=-1)
        return np.moveaxis(v, -1, axis)

    return push


def tensors(
    shape: Sequence[int],
    lo: float = -8.0,
    hi: float = 8.0,
    avoid: Sequence[float] = (),
    large: float | None = None,
    untie: int | None = None,
) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` with elements in [lo, hi], kept away from ``avoid``,
    and (``untie``: an axis) with no two values of a vector along that axis close."""
    lo, hi = _inside(lo, hi)
    strat = arrays(np.float64, tuple(shape), elements=values(lo, hi, large))
    # Untied first: pushing ties apart must not move a value back onto a kink.
    strat = strat.map(untied(untie)) if untie is not None else strat
    return strat.map(away_from(avoid)) if avoid else strat


def _inside(lo: float, hi: float) -> tuple[float, float]:
    """Keep a margin inside an open domain boundary (log's argument must stay > 0)."""
    if math.isfinite(lo):
        lo = lo + 1e-2 * max(1.0, abs(lo))
    if math.isfinite(hi):
        hi = hi - 1e-2 * max(1.0, abs(hi))
    return lo, hi


def domain_range(domain: tuple[float, float], width: float = 8.0) -> tuple[float, float]:
    lo, hi = domain
    return max(lo, -width), min(hi, width)


def falsify(strategy: st.SearchStrategy[T], prop: Callable[[T], str | None], profile: str,
            share: float = 1.0) -> tuple[T, str] | None:
    """Search for an example on which ``prop`` returns a reason to fail (``None`` means
    it holds). Returns the smallest failing example hypothesis shrinks to, with its
    reason, or ``None`` when every example holds. ``share`` scales the profile's
    number of examples (a secondary search, such as one edge value of many)."""
    failures: list[tuple[T, str]] = []
    base = hypothesis_settings(profile)
    chosen = base if share >= 1.0 else settings(base, max_examples=max(3, round(base.max_examples * share)))

    @chosen
    @given(strategy)
    def search(example: T) -> None:
        reason = prop(example)
        if reason:
            failures.append((example, reason))
            raise AssertionError(reason)

    try:
        search()
    except AssertionError:
        if failures:
            return failures[-1]  # hypothesis replays the shrunk example last
        raise
    return None


def to_tensor(a: Any, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float64).to(device=device, dtype=dtype)
