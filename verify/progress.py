"""Progress that tells the time: counts, the subject and check running now, and an ETA.

On a terminal it is a live display (rich) under the lines of finished subjects; anywhere
else (CI logs, a pipe) it is the plain lines alone, one per finished subject. The ETA is
the checks still to run times the mean time a finished check took across all workers.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

STATUS_MARK = {True: "ok  ", False: "FAIL"}
PHASES = {"compile": "bench compile", "time": "bench"}  # what a bench phase is called on screen


class Progress:
    def __init__(self, total: int, checks_per_subject: int, *, phase: str = "check", unit: str = "checks",
                 quiet: bool = False, stream: TextIO | None = None, live: bool | None = None,
                 expected_s: float | None = None) -> None:
        self.total, self.per_subject, self.phase, self.quiet = total, max(1, checks_per_subject), phase, quiet
        # An estimate of the whole, made before the start: the ETA until the first step
        # is done, then weighed against the pace as PRIOR_STEPS steps' worth of it.
        self.expected_s = expected_s
        self.unit = unit
        self.stream = stream or sys.stderr
        self.done_subjects = self.done_checks = 0
        self.current: dict[Any, str] = {}  # worker -> "subject [check]"
        self.start = time.perf_counter()
        self._live: Any = None
        self._bar: Any = None
        if not quiet and (self.stream.isatty() if live is None else live):
            self._start_live()

    # -- events ---------------------------------------------------------------------
    def check_started(self, subject: str, check_id: str, worker: Any = 0) -> None:
        self.current[worker] = f"{subject} [{check_id}]"
        self._refresh()

    def check_done(self, worker: Any = 0) -> None:
        self.done_checks += 1
        self.current.pop(worker, None)
        self._refresh()

    def subject_done(self, result: Any) -> None:
        """A finished subject: one line, whatever the display."""
        self.done_subjects += 1
        self.done_checks = max(self.done_checks, self.done_subjects * self.per_subject)
        if not self.quiet:
            self._print(self.line(result))
        self._refresh()

    def note(self, text: str) -> None:
        if not self.quiet:
            self._print(text)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # -- what is shown ----------------------------------------------------------------
    # The estimate counts as this many steps' worth of pace, or a quarter of the steps
    # where that is more: a long phase's first step (the first compile in a process,
    # seconds of one-time cost) must not set the ETA for the forty after it.
    PRIOR_STEPS = 2
    PRIOR_SHARE = 0.25

    def eta_s(self) -> float | None:
        """Seconds left at the pace so far (the first steps of a run are few and may be
        unlike the rest: with an ``expected_s``, the estimate's pace is counted as
        PRIOR_STEPS more steps, or PRIOR_SHARE of them); None before the first step
        without an estimate."""
        elapsed = time.perf_counter() - self.start
        steps = self.total * self.per_subject
        left = steps - self.done_checks
        if self.expected_s is not None:
            weight = max(self.PRIOR_STEPS, int(self.PRIOR_SHARE * steps))
            prior = weight * self.expected_s / max(1, steps)
            return max(0.0, (elapsed + prior) / (self.done_checks + weight) * left)
        if not self.done_checks:
            return None
        return max(0.0, elapsed / self.done_checks * left)

    def status(self) -> str:
        eta = self.eta_s()
        running = "; ".join(sorted(self.current.values())[:2])
        subjects = max(self.done_subjects, self.done_checks // self.per_subject)
        return (f"{self.phase}: {subjects}/{self.total} subjects, "
                f"{self.done_checks}/{self.total * self.per_subject} {self.unit}"
                + (f", about {duration(eta)} left" if eta is not None else "")
                + (f"  now: {running}" if running else ""))

    def line(self, result: Any) -> str:
        counts: dict[str, int] = {}
        for c in result.checks:
            counts[c.status.value] = counts.get(c.status.value, 0) + 1
        bad = [c.id for c in result.checks if not c.ok]
        width = len(str(self.total))
        elapsed = time.perf_counter() - self.start
        tail = f"  failing: {', '.join(bad)}" if bad else ""
        return (f"[{self.done_subjects:>{width}}/{self.total}] {STATUS_MARK[not bad]} {result.name:<22} "
                f"{' '.join(f'{k} {v}' for k, v in sorted(counts.items()))}  ({elapsed:.1f} s){tail}")

    # -- drawing ----------------------------------------------------------------------
    def _start_live(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        self._text = Text
        self._live = Live(Text(self.status()), console=Console(file=self.stream), refresh_per_second=4,
                          transient=True)
        self._live.start()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._text(self.status()))

    def _print(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)


class PhasedProgress:
    """Progress through phases, each step one activation: the whole said up front
    (``plan("bench", ...)``), then a display per phase with the estimate it was planned
    with (``plan(phase, steps, seconds)``), and a line per finished step (``log``)."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None, live: bool | None = None,
                 hint: str = "") -> None:
        self.quiet, self.stream, self.live, self.hint = quiet, stream or sys.stderr, live, hint
        self.current = Progress(0, 1, quiet=True)

    def plan(self, phase: str, steps: int, seconds: float) -> None:
        if phase == "bench":
            if not self.quiet:
                print(f"bench: {steps} activation(s), about {duration(seconds)}"
                      + (f" ({self.hint})" if self.hint else ""), file=self.stream, flush=True)
            return
        self.current.close()
        self.current = Progress(steps, 1, phase=PHASES.get(phase, phase), unit="activations", quiet=self.quiet,
                                stream=self.stream, live=self.live, expected_s=seconds)

    def log(self, step: str) -> None:
        self.current.check_done()
        self.current.note(f"{self.current.phase}: {step}  [{self.current.status()}]")

    def close(self) -> None:
        self.current.close()


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
