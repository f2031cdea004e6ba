"""Input strategies, shared by every check, and the search for a smallest failure.

Values are drawn in float64 with hypothesis (bfloat16 has no numpy dtype; a check casts
to the dtype it tests) and moved out of a small margin around every known kink, so that
finite differences never straddle one: what happens *at* a kink is the ``kinks``
check's business.
"""

from __future__ import annotations

import copy
import functools
import math
import weakref
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
    margin: float = KINK_MARGIN,
) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` with elements in [lo, hi], kept away from ``avoid``
    (by ``margin`` where it is wider than the usual), and (``untie``: an axis) with no
    two values of a vector along that axis close. The same arguments give the same
    strategy object, so that :func:`falsify` draws its examples once."""
    return _tensors(tuple(shape), lo, hi, tuple(sorted(avoid)), large, untie, margin)


@functools.lru_cache(maxsize=256)
def _tensors(shape: tuple[int, ...], lo: float, hi: float, avoid: tuple[float, ...], large: float | None,
             untie: int | None, margin: float) -> st.SearchStrategy[np.ndarray]:
    base = _arrays(shape, *_inside(lo, hi), large)
    # Untied first: pushing ties apart must not move a value back onto a kink.
    pushes = [untied(untie)] if untie is not None else []
    if avoid:
        pushes.append(away_from(avoid))
        if margin > KINK_MARGIN:
            pushes.append(away_from(avoid, margin))
    strat = base
    for push in pushes:
        strat = strat.map(push)
    if pushes:
        _MAPPED[strat] = (base, functools.partial(_pushed, pushes))
    return strat


@functools.lru_cache(maxsize=64)
def _arrays(shape: tuple[int, ...], lo: float, hi: float, large: float | None) -> st.SearchStrategy[np.ndarray]:
    return arrays(np.float64, shape, elements=values(lo, hi, large))


def _pushed(pushes: Sequence[Callable[[np.ndarray], np.ndarray]], a: np.ndarray) -> np.ndarray:
    for push in pushes:
        a = push(a)
    return a


@functools.lru_cache(maxsize=256)
def paired(strategy: st.SearchStrategy[T], options: tuple[Any, ...]) -> st.SearchStrategy[tuple[T, Any]]:
    """Examples of ``strategy``, each with one of ``options`` (a dtype); the same
    arguments give the same strategy object."""
    pair = st.tuples(strategy, st.sampled_from(options))
    if strategy in _MAPPED:
        base, post = _MAPPED[strategy]
        _MAPPED[pair] = (paired(base, options), functools.partial(_first_mapped, post))
    return pair


def _first_mapped(post: Callable[[Any], Any], example: tuple[Any, Any]) -> tuple[Any, Any]:
    return post(example[0]), example[1]


# A strategy that is another's examples mapped (pushed off kinks, untied), with that
# other one and the map: :func:`falsify` searches the other one and maps each example,
# so that subjects with different kinks share one draw.
_MAPPED: weakref.WeakKeyDictionary[st.SearchStrategy[Any], tuple[st.SearchStrategy[Any], Callable[[Any], Any]]] = \
    weakref.WeakKeyDictionary()


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
    number of examples (a secondary search, such as one edge value of many).

    ``prop`` first runs over the examples hypothesis draws for this strategy, drawn once
    per process (:func:`drawn`); only one that fails there is searched by hypothesis
    itself, which (derandomised) draws the same examples, finds the failure and
    shrinks it. A strategy that maps another's examples (:data:`_MAPPED`: pushed off
    kinks, untied) is searched as that other one, mapped."""
    base = hypothesis_settings(profile)
    chosen = base if share >= 1.0 else settings(base, max_examples=max(3, round(base.max_examples * share)))
    root, post = _MAPPED.get(strategy, (strategy, _same))
    first: tuple[T, str] | None = None
    raised: Exception | None = None
    try:
        for drawn_example in drawn(root, chosen):
            example = post(copy.deepcopy(drawn_example))  # a copy: a subject may write into its input
            reason = prop(example)
            if reason:
                first = (example, reason)
                break
        else:
            return None
    except Exception as exc:  # hypothesis finds the example again, shrinks it and raises
        raised = exc
    failures: list[tuple[T, str]] = []

    def body(drawn_example: Any) -> None:
        example = post(drawn_example)
        reason = prop(example)
        if reason:
            failures.append((example, reason))
            raise AssertionError(reason)

    try:
        _hypothesis_run(root, chosen, body)
    except AssertionError:
        if failures:
            return failures[-1]  # hypothesis replays the shrunk example last
        raise
    # A random (not derandomised) search may miss what the drawn examples showed.
    if raised is not None:
        raise raised
    return first


def _same(example: T) -> T:
    return example


# Examples hypothesis drew per (strategy, number of examples, derandomised), at most
# DRAWN_KEPT strategies, for the searches of every check of every subject a process runs.
_DRAWN: dict[tuple[Any, int, bool], list[Any]] = {}
DRAWN_KEPT = 128


def drawn(strategy: st.SearchStrategy[T], chosen: settings) -> list[T]:
    """The examples hypothesis draws for ``strategy`` under ``chosen`` when every one
    holds: the same in the same order as a search's (:func:`_hypothesis_run` is one
    function, so a derandomised run is seeded alike), drawn once and kept. Strategies
    that :func:`tensors` and :func:`paired` build are shared, so the checks of a subject
    that search the same inputs draw them once (and, as :func:`falsify` maps a base's
    examples, so do subjects whose inputs differ only in the kinks they avoid)."""
    key = (strategy, chosen.max_examples, chosen.derandomize)
    if key not in _DRAWN:
        examples: list[T] = []
        _hypothesis_run(strategy, chosen, examples.append)
        if len(_DRAWN) >= DRAWN_KEPT:
            _DRAWN.clear()
        _DRAWN[key] = examples
    return _DRAWN[key]


def _hypothesis_run(strategy: st.SearchStrategy[T], chosen: settings, body: Callable[[T], None]) -> None:
    """``body`` over the examples hypothesis draws (and shrinks, when one raises)."""

    @chosen
    @given(strategy)
    def search(example: T) -> None:
        body(example)

    search()


def to_tensor(a: Any, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float64).to(device=device, dtype=dtype)
