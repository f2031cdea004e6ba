"""`throughput`: a declared speed budget, held. Without a budget it is a skip: timing
is what ``python -m verify bench`` is for, and a gate must not fail on a noisy clock
unless the activation promised something."""

from __future__ import annotations

import torch

from verify.bench import measure, workload
from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.subject import Subject

# Timing runs per measurement (seconds): a budget is a ratio of two medians taken
# back to back, each over this long.
BUDGET_RUN_TIME_S = 0.2


@check("throughput")
def check_throughput(subject: Subject, ctx: Context) -> Outcome:
    """Forward+backward time against the built-in, within the spec's declared budget."""
    spec = subject.spec
    if spec is None or spec.throughput is None:
        return skipped("no throughput budget declared (see python -m verify bench for the numbers)")
    if spec.builtin is None:
        return skipped("a throughput budget needs a built-in to compare with")
    budget = spec.throughput
    times = {}
    for variant in ("builtin", "eager"):
        wl = workload(subject, variant, "forward_backward", budget.numel, torch.float32, ctx.device)
        assert wl is not None
        times[variant] = measure(wl.fn, ctx.device, BUDGET_RUN_TIME_S)["median_s"]
    ratio = times["eager"] / times["builtin"]
    details = {"eager_median_s": times["eager"], "builtin_median_s": times["builtin"], "ratio": ratio,
               "max_ratio": budget.max_ratio, "numel": budget.numel}
    if ratio > budget.max_ratio:
        return failed(f"forward+backward takes {ratio:.2f}x the built-in's time at {budget.numel} float32 elements; "
                      f"the spec promises at most {budget.max_ratio:.2f}x", details)
    return passed(f"{ratio:.2f}x the built-in (budget {budget.max_ratio:.2f}x)", details)
