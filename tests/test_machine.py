"""verify.machine: a timing takes the machine. It waits for running checks to end, and
no check starts while it waits or measures, across processes."""

from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any

import pytest

from verify import machine

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or os.name != "posix", reason="needs fork and flock")


@pytest.fixture(autouse=True)
def private_locks(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Locks of this test's own, so the gate's real workers elsewhere are not involved.
    monkeypatch.setattr(machine, "TIMING_LOCK", str(tmp_path / "lock"))
    monkeypatch.setattr(machine, "TURNSTILE", str(tmp_path / "turnstile"))


def _check_running(entered: Any, seconds: float, left: Any = None) -> None:
    with machine.sharing_the_machine():
        entered.set()
        time.sleep(seconds)
        if left is not None:
            left.value = time.time()


def _check_starting(started: Any, stamp: Any) -> None:
    started.set()
    with machine.sharing_the_machine():
        stamp.value = time.time()


def test_a_timing_waits_for_a_running_check() -> None:
    ctx = multiprocessing.get_context("fork")
    entered, left = ctx.Event(), ctx.Value("d", 0.0)
    proc = ctx.Process(target=_check_running, args=(entered, 1.0, left))
    proc.start()
    try:
        assert entered.wait(30)
        with machine.exclusive_timing() as waited:
            began = time.time()
        assert left.value and began >= left.value, "the timing began while the check ran"
        assert waited >= 0.5, waited
    finally:
        proc.join(30)


def test_no_check_starts_while_a_timing_measures() -> None:
    ctx = multiprocessing.get_context("fork")
    started, stamp = ctx.Event(), ctx.Value("d", 0.0)
    with machine.exclusive_timing() as waited:
        assert waited < 5
        proc = ctx.Process(target=_check_starting, args=(started, stamp))
        proc.start()
        assert started.wait(30)
        time.sleep(0.5)
        released = time.time()
    proc.join(30)
    assert proc.exitcode == 0
    assert stamp.value >= released, "a check started inside the timing"


def test_checks_share_the_machine_with_each_other() -> None:
    ctx = multiprocessing.get_context("fork")
    entered = ctx.Event()
    proc = ctx.Process(target=_check_running, args=(entered, 1.0))
    proc.start()
    try:
        assert entered.wait(30)
        started = time.perf_counter()
        with machine.sharing_the_machine():
            assert proc.is_alive(), "two checks that are not timed run side by side"
        assert time.perf_counter() - started < 0.5
    finally:
        proc.join(30)
