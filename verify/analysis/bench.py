"""Throughput: an activation against its built-in, ``torch.compile`` and the machine's
memory bandwidth, measured side by side in one run.

An elementwise activation is memory-bound: its limit is the bytes it must move divided
by the bandwidth. Each figure is therefore also given as a fraction of the bandwidth
measured in the same run, for the kind of op it is: one that allocates its output
(fresh pages must be faulted in, several times slower on this CPU) or one that writes
into an existing buffer. The workloads are built by :func:`workload`, which the CLI
(``python -m verify bench``) and the pytest-benchmark tests (``benchmarks/``) share.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.benchmark import Timer

from verify.subject import Subject

MODES = ("forward", "forward_backward")
VARIANTS = ("eager", "compiled", "builtin", "naive")

# Minimum bytes an elementwise op moves per element and pass, in units of the element
# size: forward reads x and writes y; backward reads the incoming gradient and one
# saved tensor and writes the input's gradient.
PASSES = {"forward": 2, "forward_backward": 5}


@dataclass(frozen=True)
class BenchConfig:
    # 2^24 on request (--sizes): in the default it would add about 190 s over the
    # registry on this 2-core machine, past the five-minute budget.
    sizes: tuple[int, ...] = tuple(1 << p for p in (10, 14, 18, 22))
    dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.bfloat16)
    device: str = "cpu"
    variants: tuple[str, ...] = VARIANTS
    modes: tuple[str, ...] = MODES
    # Seconds of timing per measurement (torch.utils.benchmark's blocked_autorange).
    min_run_time: float = 0.03
    # torch.compile costs 2-5 s per graph here: compiled variants are timed at the
    # budget size, in float32, forward+backward (the graph a training step uses).
    compile_sizes: tuple[int, ...] = (1 << 22,)
    compile_dtypes: tuple[torch.dtype, ...] = (torch.float32,)
    compile_modes: tuple[str, ...] = ("forward_backward",)
    # The largest size per dtype (bfloat16 stops at 2^22 to keep a default run of the
    # whole registry within five minutes on two cores).
    max_size: dict[torch.dtype, int] = field(default_factory=lambda: {torch.bfloat16: 1 << 22})

    @classmethod
    def quick(cls, device: str = "cpu") -> BenchConfig:
        return cls(sizes=(1 << 10, 1 << 15), dtypes=(torch.float32,), device=device,
                   variants=("eager", "builtin", "naive"), min_run_time=0.01, compile_sizes=())


@dataclass
class Workload:
    """A zero-argument callable doing one timed step, and what it is."""

    fn: Callable[[], Any]
    bytes_moved: int
    numel: int
    globals: dict[str, Any] = field(default_factory=dict)


def _callable(subject: Subject, variant: str, dtype: torch.dtype, device: str) -> Callable[[torch.Tensor], Any] | None:
    """The function a variant times, or None when the subject has no such variant."""
    spec = subject.spec
    if variant == "eager":
        return subject.instance(dtype, device)
    if variant == "compiled":
        # Every acts module shares one forward's code object, and Dynamo caches per code
        # object: without a reset the guards of earlier subjects pile up past the cache
        # limit and Dynamo silently falls back to eager.
        torch.compiler.reset()
        # Static shapes: a dynamic-shape kernel may come from inductor's on-disk cache,
        # compiled for whatever size it first saw (a serial loop for a small one).
        return torch.compile(subject.instance(dtype, device), dynamic=False)
    if spec is None:
        return None
    module = subject.instance(dtype, device)
    values = module.param_values() if hasattr(module, "param_values") else {}
    formula = spec.builtin if variant == "builtin" else spec.reference if variant == "naive" else None
    if formula is None:
        return None
    return lambda x: formula(x, **values)


def input_for(subject: Subject, numel: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """``numel`` elements in the subject's layout (channels at dimension 1)."""
    base = subject.base_shape
    c = base[1] if len(base) >= 2 else 1
    shape = (max(1, numel // (c * 256)), c, 256) if len(base) >= 3 else (max(1, numel // c), c) if c > 1 else (numel,)
    g = torch.Generator(device="cpu").manual_seed(0)
    return (torch.randn(shape, generator=g) * 3).to(device=device, dtype=dtype)


def workload(subject: Subject, variant: str, mode: str, numel: int, dtype: torch.dtype,
             device: str = "cpu") -> Workload | None:
    fn = _callable(subject, variant, dtype, device)
    if fn is None:
        return None
    x = input_for(subject, numel, dtype, device)
    n = x.numel()
    bytes_moved = PASSES[mode] * n * x.element_size()
    if mode == "forward":
        def step() -> Any:
            with torch.no_grad():
                return fn(x)
    else:
        x.requires_grad_()
        grad = torch.ones_like(x)

        def step() -> Any:
            x.grad = None
            fn(x).backward(grad)
    return Workload(step, bytes_moved, n)


def measure(step: Callable[[], Any], device: str, min_run_time: float) -> dict[str, float]:
    """Median and spread of one step, synchronised on CUDA (Timer does that)."""
    # At the thread count the caller runs with (Timer's own default is one thread).
    timer = Timer(stmt="step()", globals={"step": step}, num_threads=torch.get_num_threads())
    # Warm up under the Timer's own settings (it fixes the thread count): a compiled
    # step guards on the thread count and would recompile inside the timed runs.
    timer.timeit(1)
    m = timer.blocked_autorange(min_run_time=min_run_time)
    return {"median_s": m.median, "iqr_s": m.iqr, "runs": len(m.times)}


def bandwidth(numel: int, dtype: torch.dtype, device: str, min_run_time: float) -> dict[str, float]:
    """GB/s of the simplest elementwise op (reads n, writes n): allocating its output,
    and writing into an existing buffer."""
    x = torch.randn(numel, device=device).to(dtype)
    out = torch.empty_like(x)
    moved = 2 * numel * x.element_size()
    alloc = measure(lambda: torch.neg(x), device, min_run_time)["median_s"]
    into = measure(lambda: torch.neg(x, out=out), device, min_run_time)["median_s"]
    return {"alloc_gbps": moved / alloc / 1e9, "inplace_gbps": moved / into / 1e9}


# For the up-front estimate of a bench run only: an eager activation's chain of ops runs
# at about this effective bandwidth (1-3 GB/s over the registry on a 2-core CPU), each
# timing also warms up and repeats the step, and a compiled variant first compiles.
ESTIMATE_GBPS = {"cpu": 1.0, "cuda": 100.0}
ESTIMATE_STEPS_PER_TIMING = 3
ESTIMATE_OVERHEAD_S = 0.04  # a Timer's set-up and warm-up
ESTIMATE_COMPILE_S = 3.0


def estimate_s(cfg: BenchConfig, subjects: int) -> float:
    """About how long ``run_bench`` will take for ``subjects`` activations."""
    gbps = ESTIMATE_GBPS["cuda" if cfg.device.startswith("cuda") else "cpu"]
    per_subject = 0.0
    for dtype in cfg.dtypes:
        size = torch.empty((), dtype=dtype).element_size()
        for n in cfg.sizes:
            if n > cfg.max_size.get(dtype, n):
                continue
            for mode in cfg.modes:
                for variant in cfg.variants:
                    if variant == "compiled":
                        if n not in cfg.compile_sizes or dtype not in cfg.compile_dtypes or mode not in cfg.compile_modes:
                            continue
                        per_subject += ESTIMATE_COMPILE_S
                    step = PASSES[mode] * n * size / (gbps * 1e9)
                    per_subject += cfg.min_run_time + ESTIMATE_OVERHEAD_S + ESTIMATE_STEPS_PER_TIMING * step
    return per_subject * subjects


def bench_subject(subject: Subject, cfg: BenchConfig, limits: dict[tuple[str, int], dict[str, float]],
                  log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for dtype in cfg.dtypes:
        dname = str(dtype).removeprefix("torch.")
        for n in cfg.sizes:
            if n > cfg.max_size.get(dtype, n):
                continue
            for mode in cfg.modes:
                base: float | None = None
                for variant in cfg.variants:
                    if variant == "compiled" and (n not in cfg.compile_sizes or dtype not in cfg.compile_dtypes
                                                  or mode not in cfg.compile_modes):
                        continue
                    row: dict[str, Any] = {"subject": subject.name, "size": n, "dtype": dname, "mode": mode,
                                           "variant": variant}
                    try:
                        wl = workload(subject, variant, mode, n, dtype, cfg.device)
                        if wl is None:
                            continue
                        started = time.perf_counter()
                        row.update(measure(wl.fn, cfg.device, cfg.min_run_time))
                        row["wall_s"] = time.perf_counter() - started
                    except Exception as exc:  # one variant failing loses nothing else
                        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                        rows.append(row)
                        continue
                    row["numel"] = wl.numel
                    row["elements_per_s"] = wl.numel / row["median_s"]
                    row["effective_gbps"] = wl.bytes_moved / row["median_s"] / 1e9
                    # Allocating variants are held to the allocating limit.
                    limit = limits[(dname, n)]["alloc_gbps"]
                    row["fraction_of_bandwidth"] = row["effective_gbps"] / limit
                    if variant == "builtin":
                        base = row["median_s"]
                    rows.append(row)
                for row in rows:
                    if (row.get("size"), row.get("dtype"), row.get("mode")) == (n, dname, mode) and "median_s" in row:
                        row["ratio_to_builtin"] = row["median_s"] / base if base else None
        if log:
            log(f"{subject.name} {dname}")
    return rows


def run_bench(subjects: Iterable[Subject], cfg: BenchConfig,
              log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every subject's rows, and the bandwidth limits measured in the same run."""
    subjects = list(subjects)
    limits: dict[tuple[str, int], dict[str, float]] = {}
    for dtype in cfg.dtypes:
        for n in cfg.sizes:
            if n <= cfg.max_size.get(dtype, n):
                limits[(str(dtype).removeprefix("torch."), n)] = bandwidth(n, dtype, cfg.device, cfg.min_run_time)
    results = []
    for s in subjects:
        try:
            rows = bench_subject(s, cfg, limits, log)
        except Exception as exc:  # a subject that cannot even be laid out
            rows = [{"subject": s.name, "error": f"{type(exc).__name__}: {exc}"}]
        results.append({"name": s.name, "target": s.target, "rows": rows})
    return {
        "environment": environment(cfg),
        "bandwidth": [{"dtype": d, "size": n, **v} for (d, n), v in limits.items()],
        "subjects": results,
    }


def environment(cfg: BenchConfig) -> dict[str, Any]:
    import platform

    return {
        "torch_version": torch.__version__,
        "device": cfg.device,
        "device_name": torch.cuda.get_device_name() if cfg.device.startswith("cuda") else platform.processor()
        or platform.machine(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "sizes": list(cfg.sizes),
        "dtypes": [str(d).removeprefix("torch.") for d in cfg.dtypes],
        "variants": list(cfg.variants),
        "min_run_time_s": cfg.min_run_time,
    }


def summary(data: dict[str, Any], size: int | None = None, dtype: str = "float32") -> str:
    """A table: per subject, forward+backward median and the ratio to the built-in at
    2^22 elements (the budget size) when measured, else the largest size measured."""
    lines = []
    sizes = sorted({r["size"] for s in data["subjects"] for r in s["rows"] if "size" in r})
    if not sizes:
        return "no measurements"
    n = size or (1 << 22 if 1 << 22 in sizes else max(sizes))
    lines.append(f"forward+backward, {dtype}, {n} elements ({int(math.log2(n))} = log2)")
    lines.append(f"{'subject':<20} {'eager ms':>9} {'builtin':>9} {'naive':>9} {'compiled':>9} {'eager/builtin':>14} "
                 f"{'of bandwidth':>13}")
    for s in data["subjects"]:
        by = {r["variant"]: r for r in s["rows"] if r.get("size") == n and r.get("dtype") == dtype
              and r.get("mode") == "forward_backward" and "median_s" in r}
        if not by:
            continue

        def ms(v: str, by: dict = by) -> str:
            return f"{by[v]['median_s'] * 1e3:9.2f}" if v in by else f"{'-':>9}"

        ratio = by.get("eager", {}).get("ratio_to_builtin")
        frac = by.get("eager", {}).get("fraction_of_bandwidth")
        lines.append(f"{s['name']:<20} {ms('eager')} {ms('builtin')} {ms('naive')} {ms('compiled')} "
                     f"{(f'{ratio:.2f}x' if ratio else '-'):>14} {(f'{frac:.0%}' if frac else '-'):>13}")
    return "\n".join(lines)


def parse_sizes(text: Sequence[str]) -> tuple[int, ...]:
    """Sizes as numbers or powers of two (``2^20``, ``1<<20``, ``1048576``)."""
    out = []
    for t in text:
        t = t.strip()
        if t.startswith("2^"):
            out.append(1 << int(t[2:]))
        elif t.startswith("1<<"):
            out.append(1 << int(t[3:]))
        else:
            out.append(int(t))
    return tuple(out)
