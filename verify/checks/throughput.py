"""`throughput`: a declared speed budget, held. Without a budget it is a skip: timing
is what ``python -m verify bench`` is for, and a gate must not fail on a noisy clock
unless the activation promised something."""

from __future__ import annotations

import time

import torch

from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.subject import Subject

# The built-in and the subject are timed alternately, ROUNDS times each for
# BUDGET_RUN_TIME_S seconds (a median per round), and each is judged by its least
# disturbed round: load on a shared machine only ever adds time. Still, a timing depends
# on the machine's load, which is why this check is opt-in (verify.profiles.ONLY_IN).
BUDGET_RUN_TIME_S = 0.05
ROUNDS = 8


@check("throughput")
def check_throughput(subject: Subject, ctx: Context) -> Outcome:
    """Forward+backward time against the built-in, within the spec's declared budget."""
    spec = subject.spec
    if spec is None or spec.throughput is None:
        return skipped("no throughput budget declared (see python -m verify bench for the numbers)")
    if spec.builtin is None:
        return skipped("a throughput budget needs a built-in to compare with")
    # Imported here: torch.utils.benchmark costs every run a twentieth of a second at
    # start-up, and the check runs only with --only throughput.
    from verify.analysis.bench import measure, workload

    budget = spec.throughput
    times = {}
    started = time.perf_counter()
    steps = {}
    for variant in ("builtin", "eager"):
        wl = workload(subject, variant, "forward_backward", budget.numel, torch.float32, ctx.device)
        assert wl is not None
        steps[variant] = wl.fn
    for step in steps.values():
        step()  # warm-up: first-call allocations stay out of the timing
    runs: dict[str, list[float]] = {v: [] for v in steps}
    for _ in range(ROUNDS):
        for variant, step in steps.items():
            runs[variant].append(measure(step, ctx.device, BUDGET_RUN_TIME_S)["median_s"])
    times = {v: min(r) for v, r in runs.items()}
    ratio = times["eager"] / times["builtin"]
    details = {"eager_median_s": times["eager"], "builtin_median_s": times["builtin"], "ratio": ratio,
               "max_ratio": budget.max_ratio, "numel": budget.numel,
               "wall_s": time.perf_counter() - started}
    if ratio > budget.max_ratio:
        return failed(f"forward+backward takes {ratio:.2f}x the built-in's time at {budget.numel} float32 elements; "
                      f"the spec promises at most {budget.max_ratio:.2f}x", details)
    return passed(f"{ratio:.2f}x the built-in (budget {budget.max_ratio:.2f}x)", details)
