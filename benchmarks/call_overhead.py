"""What the fused path costs per call, beyond the kernels: forward+backward at 2^10
elements (the kernels take microseconds; the rest is Python, autograd and dispatch),
the fused path forced on (``min_numel=1``) against the built-in, alternating rounds.

    python benchmarks/call_overhead.py [NAME ...] [--numel 1024] [--rounds 9]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

import acts
from acts import fused


def _per_step(step: Callable[[], None], steps: int) -> float:
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps


def _measure(name: str, numel: int, rounds: int, steps: int) -> tuple[float, float]:
    """Median µs per forward+backward step: the built-in's, then the fused path's."""
    spec = acts.get(name)
    module: Any = spec.build()
    values = module.param_values()
    reference = spec.builtin
    assert reference is not None, f"{name} has no built-in"
    x = torch.randn(numel, generator=torch.Generator().manual_seed(0)).requires_grad_()
    grad = torch.ones(numel)

    def user() -> None:
        x.grad = None
        module(x).backward(grad)

    def builtin() -> None:
        x.grad = None
        reference(x, **values).backward(grad)

    with fused.configured(policy="sync", min_numel=1):
        user()
        builtin()
        runs: dict[str, list[float]] = {"builtin": [], "fused": []}
        for _ in range(rounds):
            runs["builtin"].append(_per_step(builtin, steps))
            runs["fused"].append(_per_step(user, steps))
    return statistics.median(runs["builtin"]) * 1e6, statistics.median(runs["fused"]) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--numel", type=int, default=1 << 10)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = args.names or [s.name for s in acts.all_activations() if s.builtin is not None]
    print(f"forward+backward at {args.numel} float32 elements, one thread, median of {args.rounds} rounds "
          f"of {args.steps} steps\n")
    print("| activation | built-in µs | fused µs | difference µs |")
    print("|---|---|---|---|")
    for name in names:
        b, f = _measure(name, args.numel, args.rounds, args.steps)
        print(f"| {name} | {b:.1f} | {f:.1f} | {f - b:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
