"""A check of a function of one variable, run on a gated subject one half at a time
(:mod:`verify.halves`): the first half a with b held at 1, then b with a held at 1. The
verdict is the worse of the two, each part of it named by its half."""

from __future__ import annotations

from typing import Any

from verify.checks.base import CheckFn, Context, Outcome
from verify.halves import views
from verify.results import Status
from verify.subject import Subject

_RANK = {Status.ERROR: 3, Status.FAIL: 2, Status.PASS: 1, Status.SKIP: 0}


def by_halves(fn: CheckFn, subject: Subject, ctx: Context) -> Outcome:
    """``fn`` on each half's view, joined: the worst status, the summaries prefixed by
    the half ("a (with b = 1): ..."), details and findings kept per half."""
    outcomes = [(view.label, fn(view, ctx)) for view in views(subject)]
    status = max((o.status for _, o in outcomes), key=_RANK.__getitem__)
    shown = [(label, o) for label, o in outcomes if o.status is status]
    details: dict[str, Any] = {"halves": {label: o.details for label, o in outcomes}}
    findings = tuple(f"{label}: {f}" for label, o in outcomes for f in o.findings)
    smallest = next((o.smallest_input for _, o in shown if o.smallest_input is not None), None)
    summary = "; ".join(f"{label}: {o.summary}" for label, o in shown)
    return Outcome(status, summary, details, findings, smallest)
