"""How long the `memory` check takes per activation: every registered activation, the
default profile, on the CPU (or --device), through the same runner as the CLI.

    python benchmarks/memory_bench.py [--device cpu|cuda] [--repeat N] [NAME ...]

Prints each activation's time (the best of --repeat runs, default 3), wall-clock and
the process's CPU time (all threads; less sensitive to other work on a shared
machine), and the median and the maximum of each over the activations. The first check run in a process also pays one-time costs
(imports, torch's first dispatch through a Python mode); it is timed on its own and
shown apart, not counted in the per-activation numbers.
"""

from __future__ import annotations

import argparse
import statistics
import time

import acts
from verify.checks import CHECKS, Context
from verify.runner import run_check
from verify.subject import from_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="activations to time (default: all registered)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ctx = Context(device=args.device)
    check = CHECKS["memory"]
    specs = [a for a in acts.all_activations() if not args.names or a.name in args.names]

    start = time.perf_counter()
    run_check(from_spec(specs[0]), check, ctx)
    print(f"first check in the process (one-time set-up included): {time.perf_counter() - start:.3f} s")

    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for spec in specs:
        wall[spec.name] = cpu[spec.name] = float("inf")
        for _ in range(args.repeat):
            subject = from_spec(spec)  # a fresh subject: its cached input shape is part of the cost
            start = time.process_time()
            result = run_check(subject, check, ctx)
            cpu[spec.name] = min(cpu[spec.name], time.process_time() - start)
            wall[spec.name] = min(wall[spec.name], result.duration_s)
        print(f"{spec.name:20s} {wall[spec.name] * 1e3:8.1f} ms wall {cpu[spec.name] * 1e3:8.1f} ms cpu  "
              f"{result.status.value}")
    print(f"memory check per activation ({args.device}, profile {ctx.profile}, {len(specs)} activations):")
    for label, times in (("wall", wall), ("cpu", cpu)):
        worst = max(times, key=times.__getitem__)
        print(f"  {label:4s} median {statistics.median(times.values()) * 1e3:.1f} ms, "
              f"max {times[worst] * 1e3:.1f} ms ({worst})")


if __name__ == "__main__":
    main()
