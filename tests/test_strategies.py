"""verify.strategies: a search's examples are drawn once per strategy and shared, and a
search that fails is hypothesis's own, shrunk."""

from __future__ import annotations

import numpy as np
import pytest

from verify import strategies as S
from verify.profiles import hypothesis_settings


@pytest.fixture(autouse=True)
def fresh_draws():
    S._DRAWN.clear()
    yield
    S._DRAWN.clear()


def test_the_same_arguments_give_the_same_strategy():
    assert S.tensors([2, 4, 3], -8, 8, avoid=[1.0, 0.0]) is S.tensors((2, 4, 3), -8, 8, avoid=(0.0, 1.0))
    assert S.tensors((2, 4, 3), -8, 8, avoid=(0.0,)) is not S.tensors((2, 4, 3), -8, 8, avoid=(1.0,))
    assert S.tensors((2, 4, 3), avoid=(0.0,), margin=1e-2) is not S.tensors((2, 4, 3), avoid=(0.0,))


def test_a_holding_search_sees_the_examples_hypothesis_draws_for_it(monkeypatch):
    strategy = S.tensors((2, 4, 3), -8, 8, avoid=(0.0,))
    by_hypothesis: list[np.ndarray] = []
    S._hypothesis_run(strategy, hypothesis_settings("ci"), by_hypothesis.append)
    seen: list[np.ndarray] = []
    assert S.falsify(strategy, lambda a: seen.append(a), "ci") is None
    assert len(seen) == len(by_hypothesis) == hypothesis_settings("ci").max_examples
    assert all(np.array_equal(a, b) for a, b in zip(seen, by_hypothesis, strict=True))
    # A second search of the same strategy (another check) reads them without drawing.
    def no_draw(*args: object) -> None:
        raise AssertionError("drawn again")

    monkeypatch.setattr(S, "_hypothesis_run", no_draw)
    again: list[np.ndarray] = []
    assert S.falsify(strategy, lambda a: again.append(a), "ci") is None
    assert all(np.array_equal(a, b) for a, b in zip(again, seen, strict=True))

def test_a_failure_is_found_and_shrunk_by_hypothesis():
    strategy = S.tensors((2, 4, 3), -8, 8)
    found = S.falsify(strategy, lambda a: "big" if float(np.abs(a).max()) > 3 else None, "ci")
    assert found is not None
    example, reason = found
    assert reason == "big"
    # Shrunk: no value beyond the first integer past 3 (hypothesis's simplest).
    assert 3 < float(np.abs(example).max()) <= 4


def test_a_property_that_writes_into_its_example_leaves_the_drawn_ones_alone():
    strategy = S.tensors((2, 4, 3), -8, 8)

    def scribble(a: np.ndarray) -> None:
        a[...] = 99.0

    S.falsify(strategy, scribble, "ci")
    assert all(float(np.abs(a).max()) <= 8 for a in S.drawn(strategy, hypothesis_settings("ci")))


def test_a_property_that_raises_raises_from_the_search():
    def boom(a: np.ndarray) -> None:
        if float(a.max()) > 1:
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        S.falsify(S.tensors((2, 4, 3), -8, 8), boom, "ci")


def test_a_share_of_the_examples_is_its_own_draw():
    strategy = S.tensors((2, 4, 3), -8, 8)
    few: list[np.ndarray] = []
    S.falsify(strategy, few.append, "ci", share=0.2)
    assert len(few) == round(hypothesis_settings("ci").max_examples * 0.2)
