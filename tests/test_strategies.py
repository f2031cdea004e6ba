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
    strategy = S.tensors((2, 4, 3), -8, 8)
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

MAPPED = {
    "pushed off kinks": lambda: S.tensors((2, 4, 4), -8, 8, avoid=(0.0, 1.0), large=1e4),
    "with a wider margin": lambda: S.tensors((2, 4, 3), -8, 8, avoid=(-1.0,), margin=0.05),
    "untied": lambda: S.tensors((2, 4, 3), -8, 8, untie=1),
    "untied and pushed": lambda: S.tensors((2, 4, 3), -8, 8, avoid=(0.0,), untie=1),
    "paired": lambda: S.paired(S.tensors((2, 4, 3), -8, 8, avoid=(0.0,)), ("a", "b", "c")),
}


@pytest.mark.parametrize("make", MAPPED.values(), ids=MAPPED.keys())
def test_a_mapped_strategy_is_searched_as_its_base_mapped(make):
    # Subjects whose inputs differ only in the kinks they avoid share their base's draw.
    strategy = make()
    base, post = S._MAPPED[strategy]
    seen: list[object] = []
    assert S.falsify(strategy, seen.append, "ci") is None
    from_base = [post(e) for e in S.drawn(base, hypothesis_settings("ci"))]
    assert len(seen) == len(from_base) == hypothesis_settings("ci").max_examples

    def values(e: object) -> np.ndarray:
        return np.asarray(e[0] if isinstance(e, tuple) else e)

    assert all(np.array_equal(values(a), values(b)) for a, b in zip(seen, from_base, strict=True))


def test_a_search_of_inputs_pushed_off_kinks_sees_and_shrinks_to_pushed_inputs():
    strategy = S.tensors((2, 4, 3), -8, 8, avoid=(0.0, 2.0), margin=0.05)
    seen: list[np.ndarray] = []
    assert S.falsify(strategy, seen.append, "ci") is None
    assert all(float(np.abs(a - k).min()) >= 0.05 for a in seen for k in (0.0, 2.0))
    found = S.falsify(strategy, lambda a: "big" if float(np.abs(a).max()) > 3 else None, "ci")
    assert found is not None
    assert 3 < float(np.abs(found[0]).max()) <= 4
    assert all(float(np.abs(found[0] - k).min()) >= 0.05 for k in (0.0, 2.0))


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


def test_a_random_profile_finds_what_its_drawn_examples_show():
    # thorough is not derandomised: hypothesis's own search draws afresh, and a failure the
    # kept examples showed is still reported, shrunk or not.
    strategy = S.tensors((2, 4, 3), -8, 8)
    found = S.falsify(strategy, lambda a: "big" if float(np.abs(a).max()) > 7.9 else None, "thorough")
    assert found is not None and found[1] == "big" and float(np.abs(found[0]).max()) > 7.9
