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
    assert estimate_s(BenchConfig(), 20) == pytest.approx(2 * full)
