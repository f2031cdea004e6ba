"""The pytest front end: gate your own activations in a few lines of your test suite.

    from verify.plugin import parametrize_with_checks

    @parametrize_with_checks([MyActivation, "silu", "mypkg.acts:Snake"])
    def test_activation(subject, check):
        check(subject)

Each (subject, check) pair becomes one test with a readable id (``MyActivation-
gradcheck``); a failing check fails its test with the check's one-line summary and the
command that reproduces it, a skip is a pytest skip. The pairs come from the same
runner as ``python -m verify check``. This module is also registered as a pytest
plugin (entry point ``pytest11``): it adds ``--verify-profile`` and ``--verify-device``.

Installed, it is loaded by every pytest run, so it costs nothing until a test uses it:
torch and the subjects are imported by ``parametrize_with_checks`` and the checks, never
at pytest's start-up. The checks run in the test process, not in the CLI's workers: a
subject that segfaults or exhausts memory takes the test run down with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from verify.results import Status, smallest_text

if TYPE_CHECKING:
    from verify.subject import Subject

# Set by pytest_configure, which runs before any test module is imported, so that the
# checks a test module's parametrize_with_checks selects follow --verify-profile.
_options = {"profile": "ci", "device": "cpu"}


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("verify", "activation verification")
    group.addoption("--verify-profile", default="ci", choices=["quick", "ci", "thorough"],
                    help="hypothesis profile for the activation checks")
    group.addoption("--verify-device", default="cpu", choices=["cpu", "cuda"], help="device for the activation checks")


def pytest_configure(config: Any) -> None:
    _options["profile"] = config.getoption("verify_profile", "ci")
    _options["device"] = config.getoption("verify_device", "cpu")


class CheckRunner:
    """A callable for one check id; calling it on a subject runs the check the way
    the CLI does and turns the result into a pytest outcome."""

    def __init__(self, check_id: str, options: dict[str, dict[str, Any]] | None = None) -> None:
        self.id = check_id
        self.options = options or {}

    def __repr__(self) -> str:
        return self.id

    def __call__(self, subject: Subject) -> None:
        from verify.checks import CHECKS, Context
        from verify.runner import CHECK_TIMEOUT_S, run_check

        ctx = Context(device=_options["device"], profile=_options["profile"], options=self.options)
        result = run_check(subject, CHECKS[self.id], ctx, CHECK_TIMEOUT_S.get(ctx.profile))
        if result.status is Status.SKIP:
            pytest.skip(f"{self.id}: {result.summary}")
        if result.status is not Status.PASS:
            msg = f"{subject.name} [{self.id}] {result.status.value}: {result.summary}"
            if result.repro:
                msg += f"\n  reproduce: {result.repro}"
            small = smallest_text(result.smallest_input) if result.status is Status.FAIL else None
            if small:
                msg += f"\n  smallest input: {small}"
            if result.status is Status.ERROR and "traceback" in result.details:
                msg += "\n" + str(result.details["traceback"])
            pytest.fail(msg, pytrace=False)


def _subject(target: Any) -> Subject:
    from verify.targets import from_object, resolve

    if isinstance(target, str):
        return resolve(target)
    from torch import nn

    name = getattr(target, "name", None) if not isinstance(target, type) else None
    name = name if isinstance(name, str) else getattr(target, "__name__", type(target).__name__)
    if isinstance(target, nn.Module) and target.extra_repr():
        name = f"{name}({target.extra_repr()})"  # two ReLUs, one in-place, get two ids
    return from_object(target, name=name, target=where_defined(target))


def where_defined(obj: Any) -> str:
    """A target string for an object that resolves from where pytest runs: the file
    that defines it, relative to the working folder, when it lies inside that folder (a
    test module is often not importable by name); its module's name otherwise (an
    installed package). An instance is named by its class: its arguments are not kept."""
    import inspect
    import os

    owner = obj if inspect.isclass(obj) or inspect.isroutine(obj) else type(obj)
    attr = getattr(owner, "__qualname__", getattr(owner, "__name__", "object"))
    try:
        path = inspect.getsourcefile(owner)
    except TypeError:  # a builtin
        path = None
    if path and os.path.abspath(path).startswith(os.getcwd() + os.sep):
        return f"{os.path.relpath(path)}:{attr}"
    return f"{getattr(owner, '__module__', 'object')}:{attr}"


def _importable(obj: Any) -> str:
    """A target string for a class or function given as a reference: its module's name
    where that resolves (an installed package, wherever its files lie), else the file
    that defines it (see :func:`where_defined`)."""
    from verify.errors import TargetError
    from verify.targets import resolve

    where = f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}"
    try:
        resolve(where)
    except TargetError:
        return where_defined(obj)
    return where


def iter_checks(targets: Iterable[Any], only: Sequence[str] | None = None, skip: Sequence[str] = (),
                profile: str | None = None, reference: Any = None) -> Iterable[tuple[Subject, CheckRunner]]:
    """Every (subject, check) pair, in the public check order, for ``profile`` (by
    default the run's ``--verify-profile``); ``reference`` as ``--reference``."""
    from verify.runner import select_checks
    from verify.targets import resolve

    checks = select_checks(only, skip, profile or _options["profile"])
    options = {}
    if reference is not None:
        where = reference if isinstance(reference, str) else _importable(reference)
        resolve(where)  # a reference that cannot be resolved fails the collection, as a target does
        options = {"matches": {"reference": where}}
    for t in targets:
        subject = _subject(t)
        for c in checks:
            yield subject, CheckRunner(c.id, options)


def parametrize_with_checks(targets: Iterable[Any], only: Sequence[str] | None = None,
                            skip: Sequence[str] = (), reference: Any = None) -> Callable[[Any], Any]:
    """A ``pytest.mark.parametrize`` over (subject, check) for every target: registry
    names, ``pkg.mod:Name`` strings, specs, module classes or instances, Functions or
    callables. ``reference`` (a target string, or a class or function found by where it
    is defined) is what the ``matches`` check compares each target with."""
    pairs = list(iter_checks(targets, only, skip, reference=reference))
    return pytest.mark.parametrize(
        ("subject", "check"), pairs, ids=[f"{s.name}-{c.id}" for s, c in pairs]
    )
