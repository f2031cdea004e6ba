"""verify.progress: plain lines off a terminal, a live display on one, and an ETA that
follows the pace of the checks finished so far."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest

from verify.progress import Progress
from verify.results import Status


@dataclass
class _Check:
    id: str
    status: Status

    @property
    def ok(self) -> bool:
        return self.status in (Status.PASS, Status.SKIP)


@dataclass
class _Result:
    name: str
    checks: list[_Check]


def test_plain_lines_off_a_terminal() -> None:
    out = io.StringIO()
    p = Progress(2, 2, stream=out)
    p.check_started("relu", "gradcheck")
    p.check_done()
    p.subject_done(_Result("relu", [_Check("gradcheck", Status.PASS), _Check("kinks", Status.SKIP)]))
    p.subject_done(_Result("bad", [_Check("gradcheck", Status.FAIL), _Check("kinks", Status.PASS)]))
    p.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\x1b" not in out.getvalue()
    assert lines[0].startswith("[1/2] ok   relu") and "pass 1 skip 1" in lines[0]
    assert lines[1].startswith("[2/2] FAIL bad") and lines[1].endswith("failing: gradcheck")


def test_eta_follows_the_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("verify.progress.time.perf_counter", lambda: now[0])
    p = Progress(3, 4, stream=io.StringIO())  # starts at t = 100
    assert p.eta_s() is None
    for _ in range(4):
        p.check_done()
    now[0] = 110.0
    assert p.eta_s() == pytest.approx(10.0 / 4 * 8)  # 4 checks took 10 s; 8 are left
    assert "4/12 checks" in p.status()


def test_a_live_display_on_a_terminal_keeps_the_lines() -> None:
    out = io.StringIO()
    p = Progress(1, 1, stream=out, live=True)
    p.check_started("silu", "kinks")
    assert "now: silu [kinks]" in p.status()
    p.subject_done(_Result("silu", [_Check("kinks", Status.PASS)]))
    p.close()
    assert "[1/1] ok   silu" in out.getvalue()


def test_quiet_prints_nothing() -> None:
    out = io.StringIO()
    p = Progress(1, 1, stream=out, quiet=True, live=True)
    p.subject_done(_Result("silu", [_Check("kinks", Status.PASS)]))
    p.close()
    assert out.getvalue() == ""


def test_the_bench_estimate_grows_with_the_work() -> None:
    from verify.analysis.bench import BenchConfig, estimate_s

    quick, full = estimate_s(BenchConfig.quick(), 10), estimate_s(BenchConfig(), 10)
    assert 0 < quick < full
    assert full < estimate_s(BenchConfig(), 20) < 2 * full  # the compiler starts once per worker
    from verify.analysis.bench import estimate

    assert estimate(BenchConfig(), 20)["time_s"] == pytest.approx(2 * estimate(BenchConfig(), 10)["time_s"])


class _PlantedClock:
    """A clock that moves only when the timed step runs: each step takes the next of
    ``durations`` (cycled), so a timing's spread is what the test plants."""

    def __init__(self, durations: list[float]) -> None:
        self.now, self.durations, self.calls = 0.0, durations, 0

    def __call__(self) -> float:
        return self.now

    def step(self) -> None:
        self.now += self.durations[self.calls % len(self.durations)]
        self.calls += 1


@pytest.mark.parametrize(("durations", "tight"), [([0.02], True), ([0.02, 0.01, 0.04], False)])
def test_adaptive_timing_stops_when_the_estimate_is_tight(durations: list[float], tight: bool) -> None:
    """Steady steps stop after the fewest blocks adaptive_autorange takes; steps that keep
    scattering run on to max_run_time and say the figure is not tight."""
    from verify.analysis.bench import measure

    clock = _PlantedClock(durations)
    m = measure(clock.step, "cpu", 0.01, threshold=0.1, max_run_time=2.0, clock=clock)
    assert m["tight"] is tight
    if tight:
        assert m["runs"] == 4 and m["median_s"] == pytest.approx(0.02)
        assert clock.now < 0.2, "stopped long before max_run_time"
    else:
        assert clock.now > 2.0


def test_the_eta_starts_from_the_estimate_and_moves_to_the_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr("verify.progress.time.perf_counter", lambda: now[0])
    p = Progress(10, 1, stream=io.StringIO(), expected_s=100.0)
    assert p.eta_s() == pytest.approx(100.0)  # before any step: the estimate
    for _ in range(8):
        now[0] += 20.0  # twice the estimated pace
        p.check_done()
    # (160 s + 2 steps at the estimated 10 s) over 10 steps, times the 2 left
    assert p.eta_s() == pytest.approx(180.0 / 10 * 2)


def test_the_bench_says_its_whole_then_each_phase() -> None:
    from verify.progress import PhasedProgress

    out = io.StringIO()
    p = PhasedProgress(stream=out, hint="leave it out with --no-bench")
    p.plan("bench", 2, 150.0)
    p.plan("compile", 2, 50.0)
    p.log("silu")
    p.plan("time", 2, 100.0)
    p.log("silu")
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "bench: 2 activation(s), about 2 min (leave it out with --no-bench)"
    assert lines[1].startswith("bench compile: silu  [bench compile: 1/2 subjects")
    assert lines[2].startswith("bench: silu  [bench: 1/2 subjects")
