"""Two torch 2.13 CPU inductor costs that shape the `acts` throughput figures, measured
side by side with their eager counterparts (medians of alternating calls):

- a compiled kernel that stores a bool mask is several times slower than eager: the
  partitioner saves a clamp's gradient mask as bool, so ``torch.compile`` of
  ``F.hardsigmoid`` or ``F.relu6`` (the built-ins themselves) is 10x eager in training;
- inductor's vectorised ``erfc`` costs several times its ``erf`` (GELU's spec needs erfc).

    python benchmarks/inductor_findings.py [--numel 4194304] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F


def _median_ms(fns: dict[str, Callable[[], Any]], rounds: int = 15) -> dict[str, float]:
    for fn in fns.values():
        fn()
        fn()
    runs: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            runs[name].append(time.perf_counter() - started)
    return {k: statistics.median(v) * 1e3 for k, v in runs.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--numel", type=int, default=1 << 22)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.randn(args.numel, generator=torch.Generator().manual_seed(0)) * 3
    leaf = x.clone().requires_grad_()
    grad = torch.ones_like(x)

    def train(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            leaf.grad = None
            fn(leaf).backward(grad)
        return step

    def mask(t: torch.Tensor) -> torch.Tensor:
        return (t >= -3) & (t <= 3)

    def static(fn: Callable[..., Any]) -> Callable[..., Any]:
        return torch.compile(fn, dynamic=False)

    hardsigmoid, relu6 = static(F.hardsigmoid), static(F.relu6)
    mask_c, erf_c, erfc_c = static(mask), static(torch.erf), static(torch.special.erfc)
    rows = {
        "hardsigmoid forward+backward": (train(F.hardsigmoid), train(hardsigmoid)),
        "relu6 forward+backward": (train(F.relu6), train(relu6)),
        "bool mask (x >= -3) & (x <= 3)": (lambda: mask(x), lambda: mask_c(x)),
        "erf": (lambda: torch.erf(x), lambda: erf_c(x)),
        "erfc": (lambda: torch.special.erfc(x), lambda: erfc_c(x)),
    }
    print(f"{args.numel} float32 elements, {args.threads} thread(s), medians in ms\n")
    print("| workload | eager | compiled | compiled / eager |")
    print("|---|---|---|---|")
    for name, (eager, comp) in rows.items():
        ms = _median_ms({"eager": eager, "compiled": comp})
        print(f"| {name} | {ms['eager']:.2f} | {ms['compiled']:.2f} | {ms['compiled'] / ms['eager']:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
