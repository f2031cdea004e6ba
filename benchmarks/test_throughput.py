"""pytest-benchmark over the registry, sharing verify.analysis.bench's workloads:

    pytest benchmarks --benchmark-only --benchmark-json=bench.json

Each (activation, variant, mode) at 2^22 float32 elements is one benchmark.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import acts
from verify.analysis.bench import MODES, workload
from verify.subject import from_spec

SIZE = 1 << 22
CASES = [(name, variant, mode) for name in acts.names() for variant in ("eager", "builtin", "naive") for mode in MODES]


@pytest.mark.parametrize(("name", "variant", "mode"), CASES, ids=["-".join(c) for c in CASES])
def test_throughput(benchmark: Any, name: str, variant: str, mode: str) -> None:
    wl = workload(from_spec(acts.get(name)), variant, mode, SIZE, torch.float32)
    if wl is None:
        pytest.skip(f"{name} has no {variant} variant")
    benchmark.extra_info.update({"numel": wl.numel, "bytes_moved": wl.bytes_moved})
    benchmark(wl.fn)
