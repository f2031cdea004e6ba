"""The one runner: subjects x checks -> results.

Every check runs in isolation: an exception inside it becomes an ``error`` result, a
check that runs past its time limit is cut off and reported as an ``error``, and
nothing else is lost. The CLI and the pytest plugin are two front ends over this.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence

from verify.checks import CHECKS, Check, Context, ordered
from verify.checks.base import Outcome, one_thread
from verify.errors import TargetError
from verify.profiles import ONLY_IN
from verify.results import CheckResult, Status, SubjectResult
from verify.subject import ShapeError, Subject

# Per-check wall-clock limit in seconds, by profile.
CHECK_TIMEOUT_S = {"quick": 60.0, "ci": 120.0, "thorough": 600.0}


class CheckTimeout(BaseException):
    """Raised by the alarm. A BaseException, like KeyboardInterrupt, so that a check's
    own ``except Exception`` (around a subject that may raise) cannot swallow it."""


def select_checks(only: Sequence[str] | None = None, skip: Sequence[str] = (), profile: str = "ci") -> list[Check]:
    """The checks to run, in the public order. Unknown ids are the user's mistake."""
    for cid in [*(only or ()), *skip]:
        if cid not in CHECKS:
            raise TargetError(f"unknown check id {cid!r}; known: {', '.join(c.id for c in ordered())}")
    chosen = [c for c in ordered() if (only is None or c.id in only) and c.id not in skip]
    if only is None:  # slow checks run by default only in the profiles that include them
        chosen = [c for c in chosen if c.id not in ONLY_IN or profile in ONLY_IN[c.id]]
    return chosen


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise CheckTimeout in the main thread after ``seconds`` (no limit elsewhere:
    signals reach only the main thread)."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise CheckTimeout(f"ran past its {seconds:g} s limit")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def repro_command(subject: Subject, check_id: str, ctx: Context) -> str:
    device = "" if ctx.device == "cpu" else f" --device {ctx.device}"
    return f"python -m verify check {subject.target} --only {check_id} --profile {ctx.profile}{device}"


def run_check(subject: Subject, check: Check, ctx: Context, timeout_s: float | None = None) -> CheckResult:
    start = time.perf_counter()
    try:
        # One torch thread per check: its tensors are small, and --jobs (or pytest-xdist)
        # is how the gate uses more cores (see verify.checks.base.one_thread).
        with time_limit(timeout_s), one_thread():
            outcome = check.fn(subject, ctx)
        if not isinstance(outcome, Outcome):
            raise TypeError(f"check {check.id} returned {type(outcome).__name__}, not an Outcome")
    except CheckTimeout as exc:
        outcome = Outcome(Status.ERROR, f"{check.id} {exc}")
    except ShapeError as exc:
        outcome = Outcome(Status.ERROR, f"cannot call the subject: {exc}")
    except Exception as exc:
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        outcome = Outcome(
            Status.ERROR,
            f"{type(exc).__name__}: {_one_line(str(exc))}",
            details={"traceback": "".join(tb[-6:])},
        )
    duration = time.perf_counter() - start
    return CheckResult(
        id=check.id,
        status=outcome.status,
        summary=outcome.summary,
        details=outcome.details,
        findings=outcome.findings,
        duration_s=duration,
        smallest_input=outcome.smallest_input,
        repro=repro_command(subject, check.id, ctx) if outcome.status in (Status.FAIL, Status.ERROR) else None,
    )


def run_subject(
    subject: Subject,
    checks: Iterable[Check],
    ctx: Context,
    timeout_s: float | None = None,
    on_result: Callable[[Subject, CheckResult], None] | None = None,
) -> SubjectResult:
    if timeout_s is None:
        timeout_s = CHECK_TIMEOUT_S.get(ctx.profile)
    results = []
    for c in checks:
        r = run_check(subject, c, ctx, timeout_s)
        results.append(r)
        if on_result is not None:
            on_result(subject, r)
    try:
        with time_limit(timeout_s):  # it calls the subject too (the report's curve)
            info = subject.info()
    except (Exception, CheckTimeout) as exc:  # info is a courtesy; never lose the results over it
        info = {"error": f"{type(exc).__name__}: {exc}"}
    return SubjectResult(subject.name, subject.target, tuple(results), info)


def error_subject(name: str, target: str, checks: Iterable[Check], reason: str) -> SubjectResult:
    """Results for a subject that could not even be set up: every check an error."""
    return SubjectResult(name, target, tuple(CheckResult(c.id, Status.ERROR, reason) for c in checks))


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


__all__ = ["CHECK_TIMEOUT_S", "error_subject", "run_check", "run_subject", "select_checks"]
