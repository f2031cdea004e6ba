"""The one runner: subjects x checks -> results.

A check runs in isolation: an exception inside it (``SystemExit`` and
``KeyboardInterrupt`` included) becomes an ``error`` result, every check starts from the
same global torch state, and a subject that leaves that state changed gets a finding
that says what it changed. :func:`run_check` does that in the calling process (the
pytest plugin's way); :class:`Pool` runs every subject in a worker process (the CLI's
way), so that a subject that kills its process, hangs where Python cannot stop it or
eats the machine's memory costs its own results and nothing else.
"""

from __future__ import annotations

import abc
import contextlib
import gc
import json
import math
import multiprocessing
import os
import random
import shlex
import signal
import sys
import sysconfig
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import Any

import hypothesis
import numpy
import scipy
import torch

from verify.analysis.kinkscan import curve
from verify.checks import CHECKS, Check, Context, ordered
from verify.checks.base import Outcome, one_thread
from verify.discover import Found, discover
from verify.errors import TargetError, did_you_mean
from verify.profiles import ONLY_IN
from verify.results import CheckResult, Status, SubjectResult
from verify.subject import ShapeError, Subject
from verify.targets import resolve

# Per-check limit in seconds of the process's CPU time, by profile: a verdict must not
# turn on how busy the machine is, and CPU time is what a check costs whatever else runs.
CHECK_TIMEOUT_S = {"quick": 60.0, "ci": 120.0, "thorough": 600.0}
# A subject that sleeps or blocks uses no CPU time: it is stopped after this many times
# its limit in wall-clock time, generous enough that no load reaches it.
WALL_BACKSTOP_FACTOR = 4.0

# How much of what a subject prints during one check its result keeps.
OUTPUT_KEEP_BYTES = 4096


class CheckTimeout(BaseException):
    """Raised by the alarm. A BaseException, like KeyboardInterrupt, so that a check's
    own ``except Exception`` (around a subject that may raise) cannot swallow it."""


def select_checks(only: Sequence[str] | None = None, skip: Sequence[str] = (), profile: str = "ci") -> list[Check]:
    """The checks to run, in the public order. Unknown ids are the user's mistake."""
    for cid in [*(only or ()), *skip]:
        if cid not in CHECKS:
            hint = did_you_mean(cid, CHECKS)
            raise TargetError(f"unknown check id {cid!r}{hint}; known: {', '.join(c.id for c in ordered())}")
    chosen = [c for c in ordered() if (only is None or c.id in only) and c.id not in skip]
    if only is None:  # slow checks run by default only in the profiles that include them
        chosen = [c for c in chosen if c.id not in ONLY_IN or profile in ONLY_IN[c.id]]
    return chosen


def share_out(checks: Sequence[Check], parts: int) -> list[tuple[str, ...]]:
    """One subject's checks in ``parts`` groups of about equal typical cost
    (:attr:`Check.cost_s`; the costliest placed first, each where the least is), each in
    the public order, none empty: for idle workers to run side by side."""
    parts = max(1, min(parts, len(checks)))
    groups: list[list[Check]] = [[] for _ in range(parts)]
    for c in sorted(checks, key=lambda c: -c.cost_s):
        min(groups, key=lambda g: (sum(x.cost_s for x in g), len(g))).append(c)
    rank = {c.id: n for n, c in enumerate(checks)}
    return [tuple(sorted((c.id for c in g), key=rank.__getitem__)) for g in groups]


def time_limit_s(ctx: Context, timeout_s: float | None) -> float:
    """One check's limit: the user's ``--timeout``, else the profile's."""
    return timeout_s if timeout_s is not None else CHECK_TIMEOUT_S.get(ctx.profile, CHECK_TIMEOUT_S["ci"])


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise CheckTimeout in the main thread once this process has used ``seconds`` of
    CPU time, or after :data:`WALL_BACKSTOP_FACTOR` times as long by the clock (no limit
    elsewhere: signals reach only the main thread). A hang in C never sees it; a
    worker's parent stops those (see :class:`Pool`)."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGPROF"):
        yield
        return

    def on_cpu(signum: int, frame: object) -> None:
        raise CheckTimeout(cpu_limit_text(seconds))

    def on_wall(signum: int, frame: object) -> None:
        raise CheckTimeout(wall_limit_text(seconds))

    previous = {signal.SIGPROF: signal.signal(signal.SIGPROF, on_cpu),
                signal.SIGALRM: signal.signal(signal.SIGALRM, on_wall)}
    # ITIMER_PROF counts the CPU time of the whole process, every thread's.
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, WALL_BACKSTOP_FACTOR * seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def cpu_limit_text(seconds: float) -> str:
    return f"ran past its {seconds:g} s limit of CPU time"


def wall_limit_text(seconds: float) -> str:
    return (f"ran past {WALL_BACKSTOP_FACTOR * seconds:g} s by the clock, {WALL_BACKSTOP_FACTOR:g} times its "
            f"{seconds:g} s limit of CPU time (it sleeps or waits)")


# -- global torch state -----------------------------------------------------------
@dataclass(frozen=True)
class TorchState:
    """The process-wide torch settings a subject can change behind a check's back."""

    grad: bool
    inference: bool
    anomaly: bool
    anomaly_nan: bool
    deterministic: bool
    deterministic_warn_only: bool
    default_dtype: torch.dtype
    default_device: str
    threads: int
    matmul_precision: str
    autocast_cpu: bool

    @classmethod
    def now(cls) -> TorchState:
        return cls(
            grad=torch.is_grad_enabled(),
            inference=torch.is_inference_mode_enabled(),
            anomaly=torch.is_anomaly_enabled(),
            anomaly_nan=torch.is_anomaly_check_nan_enabled(),
            deterministic=torch.are_deterministic_algorithms_enabled(),
            deterministic_warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
            default_dtype=torch.get_default_dtype(),
            default_device=str(torch.get_default_device()),
            threads=torch.get_num_threads(),
            matmul_precision=torch.get_float32_matmul_precision(),
            autocast_cpu=torch.is_autocast_enabled("cpu"),
        )

    def restore(self) -> None:
        """Set torch back to this state, touching only what differs (the first call of
        ``use_deterministic_algorithms`` imports for a second). Inference mode cannot be
        left without the guard that entered it: the caller retires a process left in it."""
        now = TorchState.now()
        if now == self:
            return
        torch.set_grad_enabled(self.grad)
        if (now.anomaly, now.anomaly_nan) != (self.anomaly, self.anomaly_nan):
            torch.autograd.set_detect_anomaly(self.anomaly, self.anomaly_nan)
        if (now.deterministic, now.deterministic_warn_only) != (self.deterministic, self.deterministic_warn_only):
            torch.use_deterministic_algorithms(self.deterministic, warn_only=self.deterministic_warn_only)
        torch.set_default_dtype(self.default_dtype)
        if now.default_device != self.default_device:
            torch.set_default_device(None if self.default_device == "cpu" else self.default_device)
        if now.threads != self.threads:
            torch.set_num_threads(self.threads)
        torch.set_float32_matmul_precision(self.matmul_precision)
        torch.set_autocast_enabled("cpu", self.autocast_cpu)

    def changes(self, after: TorchState) -> list[str]:
        return [f"{name} {before} -> {now}" for name, before, now in
                ((f, getattr(self, f), getattr(after, f)) for f in self.__dataclass_fields__) if before != now]


@contextlib.contextmanager
def isolated_state(changed: list[str]) -> Iterator[None]:
    """Run a check from a fixed seed and give torch its state back afterwards; what the
    subject left changed is appended to ``changed``."""
    before = TorchState.now()
    stdout, stderr, cwd = sys.stdout, sys.stderr, os.getcwd()
    torch.manual_seed(0)
    random.seed(0)
    try:
        yield
    finally:
        changed.extend(before.changes(TorchState.now()))
        before.restore()
        sys.stdout, sys.stderr = stdout, stderr
        if os.getcwd() != cwd:
            changed.append(f"working directory {cwd} -> {os.getcwd()}")
            os.chdir(cwd)


@contextlib.contextmanager
def user_interrupts() -> Iterator[list[int]]:
    """Tell a user's Ctrl-C from a subject's ``raise KeyboardInterrupt``: the signal
    is noted in the list before it raises. (A worker ignores SIGINT; its parent
    handles the user's.)"""
    noted: list[int] = []
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield noted
        return

    def on_sigint(signum: int, frame: object) -> None:
        noted.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# -- one check -------------------------------------------------------------------
def repro_command(target: str, check_id: str, ctx: Context, init: dict[str, Any] | None = None,
                  timeout_s: float | None = None, params: dict[str, Any] | None = None) -> str:
    """A command that runs the check again the way it failed: every option that shaped
    the run, each word quoted for a POSIX shell."""
    words = ["python", "-m", "verify", "check", target, "--only", check_id, "--profile", ctx.profile]
    if ctx.device != "cpu":
        words += ["--device", ctx.device]
    if ctx.dtypes != Context().dtypes:
        words += ["--dtype", ",".join(str(d).removeprefix("torch.") for d in ctx.dtypes)]
    if init:
        words += ["--init", json.dumps(init, separators=(",", ":"))]
    if timeout_s is not None:
        words += ["--timeout", f"{timeout_s:g}"]
    for name, value in (params or {}).items():
        words += ["--param", f"{name}={value!r}" if isinstance(value, float) else f"{name}={value}"]
    # The implementation a check compares with (`matches`'s --reference) is its own option.
    reference = ctx.options.get(check_id, {}).get("reference")
    if reference:
        words += ["--reference", reference]
    layout = ctx.options.get("layout", {}).get("text")
    if layout:
        words += ["--layout", layout]
    return " ".join(shlex.quote(w) for w in words)


def run_check(subject: Subject, check: Check, ctx: Context, timeout_s: float | None = None,
              init: dict[str, Any] | None = None, user_timeout_s: float | None = None,
              user_params: dict[str, float] | None = None) -> CheckResult:
    """One check on one subject in this process; never raises for the subject's sake.
    ``init``, ``user_timeout_s`` and ``user_params`` are the options the run was given,
    for the repro (parameter values a check found the failure at take precedence)."""
    start = time.perf_counter()
    changed: list[str] = []
    stated = ctx.options.get("layout", {}).get("text")
    if stated and subject.layout_hint is None and "layout" not in vars(subject):
        subject.layout_hint = stated  # --layout: before anything infers one
    try:
        # One torch thread per check: its tensors are small, and --jobs (or pytest-xdist)
        # is how the gate uses more cores (see verify.checks.base.one_thread).
        with user_interrupts() as noted:
            try:
                with time_limit(timeout_s), one_thread(), isolated_state(changed):
                    outcome = check.fn(subject, ctx)
            except (CheckTimeout, Exception):
                raise
            except BaseException as exc:  # SystemExit, KeyboardInterrupt: the subject's, unless the user's
                if noted:
                    raise
                outcome = Outcome(Status.ERROR, f"the subject raised {_describe(exc)}, which would have ended the run")
        if not isinstance(outcome, Outcome):
            raise TypeError(f"check {check.id} returned {type(outcome).__name__}, not an Outcome")
    except CheckTimeout as exc:
        outcome = Outcome(Status.ERROR, f"{check.id} {exc}")
    except ShapeError as exc:
        outcome = Outcome(Status.ERROR, f"cannot call the subject: {exc}")
    except Exception as exc:
        outcome = error_outcome(exc)
        if "where" in outcome.details and _runs_plainly(subject):
            # Raised in the subject's own code on an input of this check, by a subject that
            # runs on a plain one: its fault (a dtype it cannot take), judged, not an error.
            outcome = replace(outcome, status=Status.FAIL,
                              summary=f"the activation raises on an input of this check: {outcome.summary}")
    duration = time.perf_counter() - start
    findings = outcome.findings
    if changed:
        findings += (f"the subject changed torch's global state and left it so (restored for the next check): "
                     f"{'; '.join(changed)}",)
    found_at = outcome.details.get("params") if isinstance(outcome.details.get("params"), dict) else None
    params = {**(user_params or {}), **(found_at or {})} or None
    bad = outcome.status in (Status.FAIL, Status.ERROR)
    return CheckResult(
        id=check.id,
        status=outcome.status,
        summary=outcome.summary,
        details=outcome.details,
        findings=findings,
        duration_s=duration,
        smallest_input=outcome.smallest_input,
        repro=repro_command(subject.target, check.id, ctx, init, user_timeout_s, params) if bad else None,
    )


def run_subject(
    subject: Subject,
    checks: Iterable[Check],
    ctx: Context,
    timeout_s: float | None = None,
    on_result: Callable[[Subject, CheckResult], None] | None = None,
) -> SubjectResult:
    """Every check on one subject in this process, then the subject's info."""
    limit = time_limit_s(ctx, timeout_s)
    results = []
    for c in checks:
        r = run_check(subject, c, ctx, limit, user_timeout_s=timeout_s)
        results.append(r)
        if on_result is not None:
            on_result(subject, r)
    return SubjectResult(subject.name, subject.target, tuple(results), subject_info(subject, limit))


def subject_info(subject: Subject, limit_s: float | None) -> dict[str, Any]:
    """What the report shows of a subject beside its checks: its description and, where
    it can be called, f and f' over a range that shows its kinks."""
    try:
        with time_limit(limit_s), isolated_state([]):  # it calls the subject too (the curve)
            info = subject.info()
            if "input_shape" in info:
                try:
                    info["curve"] = curve(subject)
                except Exception as exc:  # a plot is a courtesy: say why there is none
                    info["curve_error"] = _describe(exc)
            return info
    except BaseException as exc:  # info is a courtesy; never lose the results over it
        return {"error": _describe(exc)}


def error_subject(name: str, target: str, checks: Iterable[Check | str], reason: str) -> SubjectResult:
    """Results for a subject that could not even be set up: every check an error."""
    return SubjectResult(name, target, not_run(checks, reason))


def not_run(checks: Iterable[Check | str], reason: str) -> tuple[CheckResult, ...]:
    """Checks that were never run, as errors: a gate does not pass what it did not see."""
    return tuple(CheckResult(c if isinstance(c, str) else c.id, Status.ERROR, reason) for c in checks)


# Code that is not the subject's: the harness, torch, the libraries checks use, Python's own.
_NOT_SUBJECT = (
    *(os.path.dirname(m.__file__ or "") + os.sep for m in (sys.modules["verify"], torch, hypothesis, numpy, scipy)),
    sysconfig.get_paths()["stdlib"] + os.sep,
)
SUBJECT_FRAMES = 3


def _runs_plainly(subject: Subject) -> bool:
    """Whether the subject gives a tensor for a plain float64 input of its layout."""
    try:
        with torch.no_grad():
            y = subject.instance(torch.float64)(torch.linspace(-2, 2, int(torch.Size(subject.base_shape).numel()),
                                                               dtype=torch.float64).reshape(subject.base_shape))
    except Exception:  # it does not: the harness could not judge it
        return False
    return isinstance(y, torch.Tensor)


def error_outcome(exc: BaseException) -> Outcome:
    """An exception a check raised, as an error a user can act on: its type and message,
    and where in the subject's own code it was raised (the last few frames that are
    not the harness's, torch's or a library's), never a property-test's example."""
    while isinstance(group := getattr(exc, "exceptions", None), tuple) and group:  # a group: its first
        exc = group[0]
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if not f.filename.startswith(_NOT_SUBJECT)][-SUBJECT_FRAMES:]
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    details: dict[str, Any] = {"exception": type(exc).__name__, "message": str(exc)[:2000]}
    summary = _describe(exc)
    if own:
        last = own[-1]
        details["where"] = f"{_shown_path(last.filename)}:{last.lineno} in {last.name}"
        summary += f" (at {details['where']})"
        shown = [f"  {_shown_path(f.filename)}:{f.lineno} in {f.name}\n    {(f.line or '').strip()}\n" for f in own]
    else:  # raised in the harness or a library: the innermost frames say where
        shown = traceback.format_list(frames[-6:])
    details["traceback"] = "".join(shown) + message[:2000] + "\n"
    return Outcome(Status.ERROR, summary, details=details)


def _shown_path(filename: str) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    try:
        return os.path.relpath(filename) if os.path.abspath(filename).startswith(os.getcwd() + os.sep) else filename
    except ValueError:
        return filename


def _describe(exc: BaseException) -> str:
    text = _one_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


# -- worker processes --------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One subject for a worker to check: plain data, pickled to it."""

    index: int
    name: str
    target: str
    check_ids: tuple[str, ...]
    ctx: Context
    init: dict[str, Any] | None = None
    timeout_s: float | None = None  # the user's --timeout; None: the profile's
    params: dict[str, float] | None = None  # the user's --param values

    @property
    def limit_s(self) -> float:
        return time_limit_s(self.ctx, self.timeout_s)


def default_memory_limit(jobs: int) -> int | None:
    """Half the machine's memory, shared by the workers (at least 1 GiB each); None
    where the machine does not say how much it has."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    return max(1 << 30, total // (2 * jobs))


class Pool:
    """``jobs`` worker processes, reused from subject to subject. The parent holds the
    time limits: a worker past its check's limit of CPU time (plus a grace for the
    worker's own timer to act), or past the wall-clock backstop, is killed; one whose
    subject ran out of its memory limit leaves. Either way the subject's remaining
    checks go to a fresh worker (once: a subject that costs a second worker has the rest
    not run). A worker whose subject SIGSEGVs or exits costs that subject its remaining
    checks. Never another subject's results; the dead worker is replaced."""

    GRACE_S = 1.0
    # How often the parent reads a busy worker's CPU time.
    POLL_S = 0.5
    # Workers a subject may cost (killed for its time, or left for its memory) before
    # its remaining checks are not run.
    KILLS_PER_SUBJECT = 2
    # A worker that has not imported what it needs by then is broken, not slow.
    STARTUP_S = 120.0

    def __init__(self, jobs: int, memory_limit_bytes: int | None = None) -> None:
        self._mp = multiprocessing.get_context(_start_method())
        if self._mp.get_start_method() == "forkserver":
            self._mp.set_forkserver_preload(["verify.runner"])
        elif self._mp.get_start_method() == "fork":
            warm_torch()
            # What is imported by now lives as long as the workers do: frozen, no garbage
            # collection in them walks it (a tenth of a second each time), and no page of
            # it is copied because a collection touched it.
            gc.freeze()
        self.jobs = jobs
        self.memory_limit_bytes = memory_limit_bytes
        self._workers: list[_Worker] = []

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(kill=exc[0] is not None)

    def close(self, kill: bool = False) -> None:
        for w in self._workers:
            w.stop(kill)
        self._workers = []

    def resolve(self, targets: Sequence[str], init: dict[str, Any] | None, limit_s: float,
                params: dict[str, float] | None = None) -> list[str | SubjectResult]:
        """Each target's subject name, loaded in a worker (a module's import and a
        class's ``__init__`` are the subject's code too). A target that cannot be
        resolved raises TargetError; one whose loading exits, dies or hangs gives a
        SubjectResult with no checks and the reason in its info."""
        out: list[str | SubjectResult] = [""] * len(targets)
        tasks = [_Resolve(i, t, init, params, limit_s, out) for i, t in enumerate(targets)]
        self._drive(tasks)
        errors = [t.target_error for t in tasks if t.target_error]
        if errors:
            raise TargetError(errors[0])
        return out

    def discover(self, where: str, limit_s: float) -> Found:
        """What a whole file or module defines (verify.discover), found in a worker: its
        import is the subject's code. One that cannot be loaded raises TargetError."""
        task = _Discover(where, limit_s)
        self._drive([task])
        if task.found is None:
            raise TargetError(task.error or f"cannot load {where}")
        return task.found

    def run(self, jobs: Sequence[Job], on_subject: Callable[[int, SubjectResult], None],
            on_check: Callable[[Job, str, bool], None] | None = None) -> None:
        """Check every job's subject; ``on_subject(index, result)`` as each finishes, and
        ``on_check(job, check_id, started)`` as each check starts and ends (progress)."""
        self._drive([_Subject(j, on_subject, on_check) for j in jobs])

    def _drive(self, tasks: Sequence[_Task]) -> None:
        pending = deque(tasks)
        while pending or any(w.task for w in self._workers):
            while pending and (idle := self._idle_worker()) is not None:
                idle.assign(pending.popleft())
            busy = [w for w in self._workers if w.task]
            deadline = min(w.deadline for w in busy)
            if any(w.cpu_from is not None for w in busy):
                deadline = min(deadline, time.monotonic() + self.POLL_S)
            timeout = None if deadline == math.inf else max(0.0, deadline - time.monotonic())
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout)
            for w in busy:
                again = None
                if w.conn in ready or w.process.sentinel in ready:
                    again = w.receive()
                elif why := w.overdue():
                    again = w.hung(why)
                if again is not None:  # what a killed worker left undone, for a fresh one
                    pending.appendleft(again)
            self._workers = [w for w in self._workers if w.alive]

    def _idle_worker(self) -> _Worker | None:
        for w in self._workers:
            if w.task is None:
                return w
        if len(self._workers) < self.jobs:
            w = _Worker(self._mp, self.memory_limit_bytes)
            self._workers.append(w)
            return w
        return None


def warm_torch() -> None:
    """torch's one-time costs that every worker pays, paid here once before they fork:
    the first ``autograd.grad`` with an incoming gradient imports torch's symbolic-shape
    machinery (sympy, a third of a second), and the first gradcheck loads its own.
    Forward mode's (its decompositions, and dynamo, torch's compiler, at the first
    forward-mode ``torch.where``: most of a second) is left to the worker that runs
    `forward_ad`: where one subject's checks are shared out, the others need not wait.
    Tensors of two elements: no thread pool starts."""
    x = torch.ones(2, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(torch.sin, (x,), fast_mode=True)


def _start_method() -> str:
    """How a worker starts. Forking this process costs milliseconds (torch and the checks
    are imported already; a second import costs a CPU-second or two). It is safe while
    this process has one thread, and the workers run torch on one thread, so they never
    use an OpenMP pool this process may have started. Otherwise a fork server (a clean
    process with torch imported) forks them; where there is no fork, they are spawned."""
    methods = multiprocessing.get_all_start_methods()
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


class _Task(abc.ABC):
    """What a worker does for the parent; the parent hears of its progress."""

    limit_s: float
    phase = "load"
    again = False  # done with its worker, the task goes on in a fresh one

    @abc.abstractmethod
    def request(self) -> tuple[Any, ...]:
        """What the worker is sent."""

    @abc.abstractmethod
    def message(self, msg: tuple[Any, ...]) -> bool:
        """Handle one message from the worker; True when the task is done."""

    @abc.abstractmethod
    def lost(self, reason: str, hung: str) -> bool:
        """The worker died (``reason``) or was killed for the time it took (``hung``
        says which limit) during ``self.phase``; True to hand the task to a fresh worker."""


class _Discover(_Task):
    def __init__(self, where: str, limit_s: float) -> None:
        self.where, self.limit_s = where, limit_s
        self.found: Found | None = None
        self.error = ""

    def request(self) -> tuple[Any, ...]:
        return ("discover", self.where, self.limit_s)

    def message(self, msg: tuple[Any, ...]) -> bool:
        if msg[0] == "found":
            self.found = Found(tuple(msg[1]), tuple(tuple(pair) for pair in msg[2]))
        else:
            self.error = msg[1]
        return True

    def lost(self, reason: str, hung: str) -> bool:
        self.error = f"loading {self.where} {hung}" if hung else f"{reason} while loading {self.where}"
        return False


class _Resolve(_Task):
    def __init__(self, index: int, target: str, init: dict[str, Any] | None, params: dict[str, float] | None,
                 limit_s: float, out: list[str | SubjectResult]) -> None:
        self.index, self.target, self.init, self.params, self.limit_s, self.out = index, target, init, params, limit_s, out
        self.target_error = ""

    def request(self) -> tuple[Any, ...]:
        return ("resolve", self.target, self.init, self.params, self.limit_s)

    def message(self, msg: tuple[Any, ...]) -> bool:
        kind, text = msg
        if kind == "resolved":
            self.out[self.index] = text
        elif kind == "target_error":
            self.target_error = text
        else:
            self._failed(text)
        return True

    def lost(self, reason: str, hung: str) -> bool:
        self._failed(_lost_loading(reason, hung))
        return False

    def _failed(self, reason: str) -> None:
        name = self.target.rpartition(":")[2] or self.target
        self.out[self.index] = SubjectResult(name, self.target, (), {"error": reason})


class _Subject(_Task):
    def __init__(self, job: Job, on_subject: Callable[[int, SubjectResult], None],
                 on_check: Callable[[Job, str, bool], None] | None = None) -> None:
        self.job, self.on_subject, self.on_check = job, on_subject, on_check
        self.limit_s = job.limit_s
        self.results: list[CheckResult] = []
        self.lost_workers: list[str] = []  # how each worker it cost was lost: "ran out of memory in memory"

    def request(self) -> tuple[Any, ...]:
        self.phase, self.again = "load", False
        return ("subject", replace(self.job, check_ids=tuple(self._left())))

    def message(self, msg: tuple[Any, ...]) -> bool:
        kind = msg[0]
        if kind == "begin":
            self.phase = msg[1]
            if self.on_check is not None and self.phase in self.job.check_ids:
                self.on_check(self.job, self.phase, True)
        elif kind == "result":
            self.results.append(CheckResult.from_json(msg[1]))
            if self.on_check is not None:
                self.on_check(self.job, self.results[-1].id, False)
        elif kind == "load_error":
            self._finish(not_run(self._left(), msg[1]), {})
            return True
        elif kind == "retired":
            self.again = self._go_on(f"ran out of memory in {msg[1]}")
            return True
        elif kind == "end":
            _, info, why_not_run, _retire = msg
            self._finish(not_run(self._left(), why_not_run) if why_not_run else (), info)
            return True
        return False

    def lost(self, reason: str, hung: str) -> bool:
        if self.phase == "info":
            self._finish((), {"error": f"{hung or reason} while describing the subject"})
            return False
        if self.phase == "load":
            self._finish(not_run(self._left(), _lost_loading(reason, hung)), {})
            return False
        summary = (f"{self.phase} {hung} (stuck where Python could not stop it; its worker was killed)" if hung
                   else f"{reason} during {self.phase}")
        check = CheckResult(self.phase, Status.ERROR, summary,
                            repro=repro_command(self.job.target, self.phase, self.job.ctx, self.job.init,
                                                self.job.timeout_s, self.job.params))
        self.results.append(check)
        if hung:
            return self._go_on(f"ran past its limit in {self.phase}")
        self._finish(not_run(self._left(), f"not run: the subject killed its worker in {self.phase}"), {})
        return False

    def _go_on(self, how: str) -> bool:
        """The subject cost a worker (``how``): True when its remaining checks go to a
        fresh one. One slow or greedy check costs only itself, unless the subject has
        already cost a worker (it would cost a limit per check); then the rest are not run."""
        self.lost_workers.append(how)
        if len(self.lost_workers) < Pool.KILLS_PER_SUBJECT and self._left():
            return True
        self._finish(not_run(self._left(), f"not run: the subject {', then '.join(self.lost_workers)}"), {})
        return False

    def _left(self) -> list[str]:
        done = {r.id for r in self.results}
        return [c for c in self.job.check_ids if c not in done]

    def _finish(self, rest: tuple[CheckResult, ...], info: dict[str, Any]) -> None:
        j = self.job
        self.on_subject(j.index, SubjectResult(j.name, j.target, (*self.results, *rest), info))


def _lost_loading(reason: str, hung: str) -> str:
    return f"loading the subject {hung}" if hung else f"{reason} while loading the subject"


class _Worker:
    """The parent's handle on one worker process."""

    def __init__(self, mp: Any, memory_limit_bytes: int | None) -> None:
        self.conn, child = mp.Pipe()
        self.process = mp.Process(target=_serve, args=(child, memory_limit_bytes), daemon=True)
        self.process.start()
        child.close()
        self.task: _Task | None = None
        self.deadline = time.monotonic() + Pool.STARTUP_S
        self.cpu_from: float | None = None  # the worker's CPU time when its current step began
        self.alive = True
        self.ready = False

    def assign(self, task: _Task) -> None:
        self.task = task
        self.conn.send(task.request())
        if self.ready:
            self._restart_clocks()

    def _restart_clocks(self) -> None:
        """A new step (a check, a load) begins: its own CPU time and wall-clock backstop."""
        assert self.task is not None
        limit = self.task.limit_s
        self.deadline = time.monotonic() + WALL_BACKSTOP_FACTOR * limit + Pool.GRACE_S
        self.cpu_from = _cpu_seconds(self.process.pid)

    def overdue(self) -> str:
        """Which limit the current step is past, beyond the grace the worker's own
        timers have to act ("" when neither)."""
        if self.task is None:
            return ""
        if not self.ready:
            return f"did not start in {Pool.STARTUP_S:g} s" if time.monotonic() > self.deadline else ""
        limit = self.task.limit_s
        if self.cpu_from is not None:
            used = _cpu_seconds(self.process.pid)
            if used is not None and used - self.cpu_from > limit + Pool.GRACE_S:
                return cpu_limit_text(limit)
        return wall_limit_text(limit) if time.monotonic() > self.deadline else ""

    def receive(self) -> _Task | None:
        """Take the worker's messages; the task back when it is to go to a fresh worker."""
        task = self.task
        assert task is not None
        ended = False
        try:
            while self.conn.poll():
                msg = self.conn.recv()
                if msg[0] == "ready":  # the clocks start once the worker has imported torch
                    self.ready = True
                elif task.message(msg):
                    self.task, self.deadline, self.cpu_from = None, math.inf, None
                    if msg[0] == "retired" or (msg[0] == "end" and msg[3]):  # a fresh worker takes its place
                        self.stop(kill=False)
                    return task if task.again else None
                self._restart_clocks()
        except (EOFError, OSError):
            ended = True
        if ended or self.process.sentinel in wait([self.process.sentinel], 0):
            self.process.join(5)
            reason = f"worker died: {_exit_reason(self.process.exitcode)}"
            if not self.ready:
                raise RuntimeError(f"a worker process failed to start: {reason}")
            self.task = None
            self.stop(kill=True)
            return task if task.lost(reason, hung="") else None
        return None

    def hung(self, why: str) -> _Task | None:
        """Kill the worker for its step's time; the task back when a fresh worker is to go on with it."""
        task = self.task
        assert task is not None
        self.stop(kill=True)
        if not self.ready:
            raise RuntimeError(f"a worker process {why}")
        self.task = None
        return task if task.lost("", hung=why) else None

    def stop(self, kill: bool) -> None:
        self.alive = False
        if self.process.is_alive() and not kill:
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


def _cpu_seconds(pid: int | None) -> float | None:
    """The CPU time (user and system, every thread) a process has used, from Linux's
    /proc; None elsewhere, where the wall-clock backstop alone stops a hang in C."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


# -- inside a worker -------------------------------------------------------------------
def _serve(conn: Connection, memory_limit_bytes: int | None) -> None:
    """A worker's life: take jobs from the parent until it sends None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the user's Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker has the CLI's handler
    _die_with_parent()
    if memory_limit_bytes:
        import resource

        # RLIMIT_DATA counts the anonymous memory torch's allocator maps, so a runaway
        # allocation fails as an exception in the check that made it.
        resource.setrlimit(resource.RLIMIT_DATA, (memory_limit_bytes, memory_limit_bytes))
    # One torch thread: every check runs on one (verify.checks.base.one_thread), --jobs is
    # how the gate uses cores, and no OpenMP pool is started in a forked process.
    torch.set_num_threads(1)
    clean = TorchState.now()
    capture = _Capture()
    subjects: dict[str, Subject] = {}
    conn.send(("ready",))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        if request[0] == "resolve":
            _, target, init, params, limit = request
            conn.send(_resolve(subjects, target, init, params, limit))
            capture.take()
        elif request[0] == "discover":
            _, where, limit = request
            conn.send(_discover(where, limit))
            capture.take()
        else:
            if _check_subject(conn, request[1], subjects, clean, capture, memory_limit_bytes):
                return  # the parent replaces a worker that cannot be trusted with another subject


def _discover(where: str, limit_s: float) -> tuple[Any, ...]:
    try:
        with time_limit(limit_s), isolated_state([]):
            found = discover(where)
    except TargetError as exc:
        return ("target_error", str(exc))
    except CheckTimeout as exc:
        return ("target_error", f"loading {where} {exc}")
    except BaseException as exc:
        return ("target_error", f"loading {where} raised {_describe(exc)}")
    return ("found", found.targets, found.skipped)


def _resolve(cache: dict[str, Subject], target: str, init: dict[str, Any] | None,
             params: dict[str, float] | None, limit_s: float) -> tuple[str, str]:
    key = json.dumps([target, init, params], sort_keys=True)
    try:
        with time_limit(limit_s), isolated_state([]):
            cache.clear()
            cache[key] = resolve(target, init, params)
    except TargetError as exc:
        return ("target_error", str(exc))
    except CheckTimeout as exc:
        return ("load_error", _lost_loading("", str(exc)))
    except BaseException as exc:
        return ("load_error", f"loading the subject raised {_describe(exc)}")
    return ("resolved", cache[key].name)


def _check_subject(conn: Connection, job: Job, subjects: dict[str, Subject], clean: TorchState,
                   capture: _Capture, memory_limit_bytes: int | None) -> bool:
    """Run one job's checks, reporting each; True when this worker must not be reused."""
    key = json.dumps([job.target, job.init, job.params], sort_keys=True)
    if key not in subjects:
        kind, text = _resolve(subjects, job.target, job.init, job.params, job.limit_s)
        if kind != "resolved":
            conn.send(("load_error", text))
            return False
    subject = subjects[key]
    capture.take()
    for cid in job.check_ids:
        conn.send(("begin", cid))
        clean.restore()
        result = run_check(subject, CHECKS[cid], job.ctx, job.limit_s, job.init, job.timeout_s, job.params)
        output, size = capture.take()
        if size:
            result = replace(result, details={**result.details, "output": output, "output_bytes": size})
        out_of_memory = _out_of_memory(result)
        if out_of_memory:
            limit = f"{memory_limit_bytes / 2**30:.3g} GiB" if memory_limit_bytes else "the machine's"
            result = replace(result, status=Status.ERROR,
                             summary=f"out of memory: past the worker's limit of {limit} (--memory-limit): "
                                     f"{result.summary}")
        conn.send(("result", result.to_json()))
        if out_of_memory:  # the parent hands the rest to a fresh worker
            conn.send(("retired", cid))
            return True
    conn.send(("begin", "info"))
    clean.restore()
    info = subject_info(subject, job.limit_s)
    capture.take()
    # A worker is not trusted with another subject when this one left inference mode on
    # (it cannot be turned off from here) or kept half the memory limit (a cache that
    # never lets go would shrink the next subject's limit).
    retire = torch.is_inference_mode_enabled() or bool(memory_limit_bytes and _data_bytes() > memory_limit_bytes / 2)
    conn.send(("end", SubjectResult(subject.name, subject.target, (), info).to_json()["info"], None, retire))
    return retire


def _out_of_memory(result: CheckResult) -> bool:
    """An allocation refused, whether the check called it an error or a failure."""
    return not result.ok and ("MemoryError" in result.summary or "can't allocate memory" in result.summary)


def _data_bytes() -> int:
    """The memory RLIMIT_DATA counts for this process (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when its parent dies, even one stuck in C."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class _Capture:
    """A worker's stdout and stderr (the file descriptors, so C code's output too) go to
    a pipe that a thread drains: the first ``OUTPUT_KEEP_BYTES`` of each check are kept,
    the rest only counted, and the terminal sees none of it."""

    MARK = b"\0verify: end of a check's output\0"

    def __init__(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        read, write = os.pipe()
        os.dup2(write, 1)
        os.dup2(write, 2)
        os.close(write)
        self._read = read
        self._kept = bytearray()
        self._bytes = 0
        self._marked = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        pending = b""
        while True:
            chunk = os.read(self._read, 1 << 16)
            if not chunk:
                return
            data = pending + chunk
            while (at := data.find(self.MARK)) >= 0:
                self._keep(data[:at])
                data = data[at + len(self.MARK):]
                self._marked.set()
            keep_back = len(self.MARK) - 1  # the start of a mark cut in two by a read
            pending = data[-keep_back:]
            self._keep(data[:-keep_back])

    def _keep(self, data: bytes) -> None:
        room = OUTPUT_KEEP_BYTES - len(self._kept)
        if room > 0:
            self._kept += data[:room]
        self._bytes += len(data)

    def take(self) -> tuple[str, int]:
        """What was written since the last call, and how many bytes it was."""
        self._marked.clear()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        try:
            os.write(1, self.MARK)
            self._marked.wait(5)
        except OSError:  # the subject closed the descriptor
            pass
        text, size = self._kept.decode("utf-8", "replace"), self._bytes
        self._kept, self._bytes = bytearray(), 0
        return text, size


__all__ = ["CHECK_TIMEOUT_S", "Job", "Pool", "TorchState", "default_memory_limit", "error_subject", "not_run",
           "repro_command", "run_check", "run_subject", "select_checks"]
