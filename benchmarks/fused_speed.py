"""The fused kernels (acts.fused) against the built-ins: steady-state speed, and what
the first call costs.

For every registered activation with a built-in equivalent, in a fresh process each
(so that one activation's compilation or memory does not colour the next):

- cold start, policy ``background`` (the default): the first forward+backward call at
  the budget size, and how long after it the fused kernels are ready; the same first
  call with ``ACTS_FUSED=off`` for comparison (a separate fresh process);
- steady state: forward+backward medians of the built-in, the fused path and the plain
  eager chain (policy ``off``), timed alternately ``--rounds`` times so that a burst of
  load on a shared machine falls on all three; the ratio is of the medians.

    python benchmarks/fused_speed.py [NAME ...] [--threads 1 2] [--json FILE]

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

NUMEL = 1 << 22


def _child(name: str, threads: int, rounds: int, cold_only: bool) -> dict[str, Any]:
    import torch
    from torch.utils.benchmark import Timer

    import acts
    from acts import fused

    torch.set_num_threads(threads)
    spec = acts.get(name)
    module = spec.build()
    values = module.param_values()
    x = (torch.randn(NUMEL, generator=torch.Generator().manual_seed(0)) * 3).requires_grad_()
    grad = torch.ones(NUMEL)

    def user() -> None:
        x.grad = None
        module(x).backward(grad)

    def builtin() -> None:
        x.grad = None
        spec.builtin(x, **values).backward(grad)

    out: dict[str, Any] = {"name": name, "threads": threads, "policy": fused.SETTINGS.policy}
    started = time.perf_counter()
    user()
    out["first_call_s"] = time.perf_counter() - started
    if cold_only:
        return out
    if fused.SETTINGS.policy == "background":
        calls = 1
        while fused.pending():  # the user keeps training meanwhile
            user()
            calls += 1
        out["ready_after_s"] = time.perf_counter() - started
        out["calls_before_ready"] = calls
        out["compile_s"] = sum(r["compile_s"] or 0 for r in fused.report())

    faults: dict[str, list[float]] = {"builtin": [], "fused": [], "unfused": []}

    def median(name: str, step: Any, policy: str) -> float:
        with fused.configured(policy=policy):
            timer = Timer("step()", globals={"step": step}, num_threads=threads)
            timer.timeit(2)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            m = timer.blocked_autorange(min_run_time=0.2)
            # Page faults per step: fresh memory faulted in on every allocation (glibc
            # returning freed 16 MiB blocks to the system) can dominate a step's time.
            faults[name].append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
                                / (m.number_per_run * len(m.times)))
            return m.median

    runs: dict[str, list[float]] = {"builtin": [], "fused": [], "unfused": []}
    for _ in range(rounds):
        runs["builtin"].append(median("builtin", builtin, "sync"))
        runs["fused"].append(median("fused", user, "sync"))
        runs["unfused"].append(median("unfused", user, "off"))
    out.update({f"{k}_ms": statistics.median(v) * 1e3 for k, v in runs.items()})
    out.update({f"{k}_faults_per_step": statistics.median(v) for k, v in faults.items()})
    out["fused_calls"] = fused.compiled_calls()
    out["kernels"] = [{k: r[k] for k in ("kernel", "state", "direct", "threads", "error")} for r in fused.report()]
    return out


def _run_child(name: str, threads: int, rounds: int, policy: str, cold_only: bool) -> dict[str, Any]:
    env = {**os.environ, "ACTS_FUSED": policy}
    cmd = [sys.executable, __file__, "--child", name, "--threads", str(threads), "--rounds", str(rounds)]
    if cold_only:
        cmd.append("--cold-only")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"name": name, "threads": threads, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--child", metavar="NAME", help=argparse.SUPPRESS)
    ap.add_argument("--cold-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.threads[0], args.rounds, args.cold_only)))
        return 0

    import acts

    names = args.names or [s.name for s in acts.all_activations() if s.builtin is not None]
    rows = []
    for threads in dict.fromkeys(args.threads):
        for name in names:
            row = _run_child(name, threads, args.rounds, "background", cold_only=False)
            off = _run_child(name, threads, args.rounds, "off", cold_only=True)
            row["first_call_unfused_s"] = off.get("first_call_s")
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"forward+backward at {NUMEL} float32 elements, median of {args.rounds} alternating rounds\n")
    print("| activation | threads | built-in ms | fused ms | fused / built-in | unfused ms | unfused / built-in "
          "| first call s (unfused) | fused ready after s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['name']} | {r['threads']} | error: {r['error']} |")
            continue
        print(f"| {r['name']} | {r['threads']} | {r['builtin_ms']:.2f} | {r['fused_ms']:.2f} | "
              f"{r['fused_ms'] / r['builtin_ms']:.2f}x | {r['unfused_ms']:.2f} | {r['unfused_ms'] / r['builtin_ms']:.2f}x | "
              f"{r['first_call_s']:.2f} ({r['first_call_unfused_s']:.2f}) | {r.get('ready_after_s', float('nan')):.1f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
