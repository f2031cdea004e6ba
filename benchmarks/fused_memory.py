"""The memory compiled fused kernels keep: resident set growth of one process as it
compiles (``ACTS_FUSED=sync``) the forward and backward kernels of every activation
with a built-in, after a first one has paid for importing the compiler.

    python benchmarks/fused_memory.py
"""

from __future__ import annotations

import gc
import os

import torch

import acts
from acts import fused


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    x = torch.randn(1 << 17, requires_grad=True)
    grad = torch.ones(1 << 17)
    names = [s.name for s in acts.all_activations() if s.builtin is not None]
    with fused.configured(policy="sync"):
        acts.get("relu").build()(x).backward(grad)
        gc.collect()
        before, kernels = _rss_mib(), len(fused.report())
        for name in names:
            acts.get(name).build()(x).backward(grad)
        gc.collect()
    grown, compiled = _rss_mib() - before, len(fused.report()) - kernels
    print(f"{len(names)} activations, {compiled} kernels compiled after the first: resident set grew "
          f"{grown:.0f} MiB ({grown / max(compiled, 1):.1f} MiB a kernel)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
