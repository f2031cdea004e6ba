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
    # The two sizes that answer the question: 2^10 elements, where a call's fixed cost
    # (dispatch, autograd, allocation) is all there is, and 2^22 (16 MB in float32, past
    # any cache), where only memory traffic counts. The sizes between add the cache
    # levels' story at several times the cost; --sizes asks for them.
    sizes: tuple[int, ...] = (1 << 10, 1 << 22)
    # float32 is what the report draws; --dtype adds bfloat16 or float16.
    dtypes: tuple[torch.dtype, ...] = (torch.float32,)
    device: str = "cpu"
    variants: tuple[str, ...] = VARIANTS
    modes: tuple[str, ...] = MODES
    # Adaptive timing (torch.utils.benchmark's adaptive_autorange): blocks of calls until
    # the spread of the block times (IQR) is within `threshold` of their median, after at
    # least `min_run_time` seconds and at most `max_run_time`. 0.1 is where
    # torch.utils.benchmark itself starts to warn of fluctuation.
    threshold: float = 0.1
    min_run_time: float = 0.01
    max_run_time: float = 0.3
    # A compiled variant is timed at the budget size, in float32, forward+backward (the
    # graph a training step uses): each graph costs seconds of compiling.
    compile_sizes: tuple[int, ...] = (1 << 22,)
    compile_dtypes: tuple[torch.dtype, ...] = (torch.float32,)
    compile_modes: tuple[str, ...] = ("forward_backward",)
    # The largest size per dtype.
    max_size: dict[torch.dtype, int] = field(default_factory=dict)
    # Processes that compile the compiled variants before the timing starts (0: none,
    # the timing loop compiles each graph itself).
    compile_workers: int = field(default_factory=lambda: os.cpu_count() or 1)

    @classmethod
    def quick(cls, device: str = "cpu") -> BenchConfig:
        return cls(sizes=(1 << 10, 1 << 15), dtypes=(torch.float32,), device=device,
                   variants=("eager", "builtin", "naive"), max_run_time=0.1, compile_sizes=())

    def points(self) -> list[tuple[torch.dtype, int, str, str]]:
        """Every (dtype, size, mode, variant) a subject is timed at, in the order timed."""
        out = []
        for dtype in self.dtypes:
            for n in self.sizes:
                if n > self.max_size.get(dtype, n):
                    continue
                for mode in self.modes:
                    for variant in self.variants:
                        if variant != "compiled" or (n in self.compile_sizes and dtype in self.compile_dtypes
                                                     and mode in self.compile_modes):
                            out.append((dtype, n, mode, variant))
        return out


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
             device: str = "cpu", x: torch.Tensor | None = None) -> Workload | None:
    """One timed step of ``variant`` in ``mode``, on ``x`` (made by :func:`input_for`
    when not given)."""
    fn = _callable(subject, variant, dtype, device)
    if fn is None:
        return None
    x = input_for(subject, numel, dtype, device) if x is None else x.detach()
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


def measure(step: Callable[[], Any], device: str, min_run_time: float, *, threshold: float | None = None,
            max_run_time: float = 10.0, clock: Callable[[], float] | None = None) -> dict[str, Any]:
    """Median and spread of one step, synchronised on CUDA (Timer does that). With a
    ``threshold``, adaptive: blocks of calls until the spread is within ``threshold`` of
    the median (``tight``) or ``max_run_time`` has passed; without, ``min_run_time``
    seconds of blocks. ``clock`` replaces the timer (a test's planted clock)."""
    # At the thread count the caller runs with (Timer's own default is one thread).
    planted: dict[str, Any] = {"timer": clock} if clock else {}
    timer = Timer(stmt="step()", globals={"step": step}, num_threads=torch.get_num_threads(), **planted)
    if threshold is None:
        # Warm up under the Timer's own settings (it fixes the thread count): a compiled
        # step guards on the thread count and would recompile inside the timed runs.
        timer.timeit(1)
        m = timer.blocked_autorange(min_run_time=min_run_time)
    else:
        # Its search for a block size runs under those settings too and is not kept:
        # the warm-up.
        m = timer.adaptive_autorange(threshold=threshold, min_run_time=min_run_time, max_run_time=max_run_time)
    out: dict[str, Any] = {"median_s": m.median, "iqr_s": m.iqr, "runs": len(m.times)}
    if threshold is not None:
        out["tight"] = bool(m.meets_confidence(threshold))
    return out


def _timed(step: Callable[[], Any], cfg: BenchConfig, clock: Callable[[], float] | None = None) -> dict[str, Any]:
    return measure(step, cfg.device, cfg.min_run_time, threshold=cfg.threshold, max_run_time=cfg.max_run_time,
                   clock=clock)


def bandwidth(numel: int, dtype: torch.dtype, cfg: BenchConfig) -> dict[str, float]:
    """GB/s of the simplest elementwise op (reads n, writes n): allocating its output,
    and writing into an existing buffer."""
    x = torch.randn(numel, device=cfg.device).to(dtype)
    out = torch.empty_like(x)
    moved = 2 * numel * x.element_size()
    alloc = _timed(lambda: torch.neg(x), cfg)["median_s"]
    into = _timed(lambda: torch.neg(x, out=out), cfg)["median_s"]
    return {"alloc_gbps": moved / alloc / 1e9, "inplace_gbps": moved / into / 1e9}


# For the estimates of a bench run only. A timing costs its fixed overhead (a Timer's
# set-up, the block-size search) and a number of steps: the search's first call (the
# warm-up) and adaptive_autorange's four blocks at the least. A step of an eager activation
# moves its bytes at a fraction of the bandwidth measured for the simplest op (a chain of
# ops, each a pass over memory); before that is measured, at ESTIMATE_GBPS. A compiled
# graph costs ESTIMATE_COMPILE_S in a worker, once a worker has paid
# ESTIMATE_COMPILER_START_S to start torch and inductor, and a reload from inductor's
# cache in the timing process.
ESTIMATE_GBPS = {"cpu": 1.0, "cuda": 100.0}
ESTIMATE_FRACTION_OF_BANDWIDTH = 0.25
ESTIMATE_STEPS_PER_TIMING = 5
ESTIMATE_OVERHEAD_S = 0.06
ESTIMATE_COMPILE_S = 2.5
ESTIMATE_COMPILER_START_S = 12.0
ESTIMATE_RELOAD_S = 0.3


def estimate(cfg: BenchConfig, subjects: int,
             limits: dict[tuple[str, int], dict[str, float]] | None = None) -> dict[str, float]:
    """About how long each phase of ``run_bench`` takes for ``subjects`` activations:
    ``compile_s`` (the compiled variants, in ``workers`` processes) and ``time_s``."""
    cpu = not cfg.device.startswith("cuda")
    compiled = [p for p in cfg.points() if p[3] == "compiled"]
    per_subject = 0.0
    for dtype, n, mode, variant in cfg.points():
        size = torch.empty((), dtype=dtype).element_size()
        measured = (limits or {}).get((str(dtype).removeprefix("torch."), n))
        gbps = (measured["alloc_gbps"] * ESTIMATE_FRACTION_OF_BANDWIDTH if measured
                else ESTIMATE_GBPS["cpu" if cpu else "cuda"])
        step = PASSES[mode] * n * size / (gbps * 1e9)
        per_subject += ESTIMATE_OVERHEAD_S + max(cfg.min_run_time, ESTIMATE_STEPS_PER_TIMING * step)
        if variant == "compiled":
            per_subject += ESTIMATE_RELOAD_S if cfg.compile_workers else ESTIMATE_COMPILE_S
    workers = min(cfg.compile_workers, subjects * len(compiled))
    compile_s = (ESTIMATE_COMPILER_START_S + ESTIMATE_COMPILE_S * subjects * len(compiled) / workers
                 if workers else 0.0)
    return {"compile_s": compile_s, "time_s": per_subject * subjects, "workers": workers,
            "graphs": len(compiled) * subjects if workers else 0}


def estimate_s(cfg: BenchConfig, subjects: int) -> float:
    """About how long ``run_bench`` will take for ``subjects`` activations."""
    e = estimate(cfg, subjects)
    return e["compile_s"] + e["time_s"]


def _compile_one(target: str, overrides: dict[str, float], points: list[tuple[torch.dtype, int, str]],
                 device: str, threads: int) -> str:
    """In a worker: compile and run once each compiled graph of one subject, which
    leaves it in inductor's on-disk cache for the timing process to load."""
    from verify.targets import resolve

    torch.set_num_threads(threads)  # the generated kernels depend on it
    subject = resolve(target, None, overrides)
    for dtype, n, mode in points:
        wl = workload(subject, "compiled", mode, n, dtype, device)
        if wl is not None:
            wl.fn()
    return subject.name


def precompile(subjects: Sequence[Subject], cfg: BenchConfig, log: Callable[[str], None] | None = None) -> None:
    """Compile the compiled variants in ``cfg.compile_workers`` processes at once, so that
    the timing, which runs alone, finds each graph compiled. Only a speed-up: a subject
    a worker cannot rebuild (or compile) is compiled by the timing loop itself."""
    import concurrent.futures as cf
    import multiprocessing

    points = [(d, n, m) for d, n, m, v in cfg.points() if v == "compiled"]
    if not points or not cfg.compile_workers or not subjects:
        return
    # Not a fork of this process, which has run torch's thread pools (a forked copy may
    # hang in them); a fork server that imports this module and not the program's
    # __main__ (verify's would run the command again), else a fresh interpreter.
    methods = multiprocessing.get_all_start_methods()
    mp = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if mp.get_start_method() == "forkserver":
        mp.set_forkserver_preload([__name__])
    with cf.ProcessPoolExecutor(min(cfg.compile_workers, len(subjects)), mp_context=mp) as pool:
        jobs = {pool.submit(_compile_one, s.target, dict(s.overrides), points, cfg.device,
                            torch.get_num_threads()): s.name for s in subjects}
        for job in cf.as_completed(jobs):
            job.exception()  # see above: a failure here costs time, not a result
            if log:
                log(jobs[job])


def bench_subject(subject: Subject, cfg: BenchConfig, limits: dict[tuple[str, int], dict[str, float]],
                  log: Callable[[str], None] | None = None,
                  clock: Callable[[], float] | None = None) -> list[dict[str, Any]]:
    """One subject's rows: a timing per (dtype, size, mode, variant) of ``cfg.points()``,
    each with its ratio to the built-in and its fraction of the bandwidth limit."""
    rows: list[dict[str, Any]] = []
    inputs: dict[tuple[torch.dtype, int], torch.Tensor] = {}
    for dtype, n, mode, variant in cfg.points():
        dname = str(dtype).removeprefix("torch.")
        row: dict[str, Any] = {"subject": subject.name, "size": n, "dtype": dname, "mode": mode, "variant": variant}
        try:
            if (dtype, n) not in inputs:
                inputs[(dtype, n)] = input_for(subject, n, dtype, cfg.device)
            wl = workload(subject, variant, mode, n, dtype, cfg.device, inputs[(dtype, n)])
            if wl is None:
                continue
            started = time.perf_counter()
            row.update(_timed(wl.fn, cfg, clock))
            row["wall_s"] = time.perf_counter() - started
        except Exception as exc:  # one variant failing loses nothing else
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            rows.append(row)
            continue
        row["numel"] = wl.numel
        row["elements_per_s"] = wl.numel / row["median_s"]
        row["effective_gbps"] = wl.bytes_moved / row["median_s"] / 1e9
        # Allocating variants are held to the allocating limit.
        row["fraction_of_bandwidth"] = row["effective_gbps"] / limits[(dname, n)]["alloc_gbps"]
        rows.append(row)
    for row in rows:
        base = next((r["median_s"] for r in rows if r["variant"] == "builtin" and "median_s" in r
                     and (r["size"], r["dtype"], r["mode"]) == (row["size"], row["dtype"], row["mode"])), None)
        if "median_s" in row:
            row["ratio_to_builtin"] = row["median_s"] / base if base else None
    if log:
        log(subject.name)
    return rows


def run_bench(subjects: Iterable[Subject], cfg: BenchConfig, log: Callable[[str], None] | None = None,
              plan: Callable[[str, int, float], None] | None = None) -> dict[str, Any]:
    """Every subject's rows, and the bandwidth limits measured in the same run. The
    compiled variants are compiled first, in parallel; then everything is timed, one
    timing at a time. ``plan(phase, steps, seconds)`` is told what each phase will do
    ("bench": the whole, then "compile" and "time") before it starts, ``log`` each step
    that finished."""
    subjects = list(subjects)
    limits: dict[tuple[str, int], dict[str, float]] = {}
    for dtype in cfg.dtypes:
        for n in cfg.sizes:
            if n <= cfg.max_size.get(dtype, n):
                limits[(str(dtype).removeprefix("torch."), n)] = bandwidth(n, dtype, cfg)
    est = estimate(cfg, len(subjects), limits)
    if plan:
        plan("bench", len(subjects), est["compile_s"] + est["time_s"])
    if est["graphs"]:
        if plan:
            plan("compile", len(subjects), est["compile_s"])
        precompile(subjects, cfg, log)
    if plan:
        plan("time", len(subjects), est["time_s"])
    results = []
    for s in subjects:
        try:
            rows = bench_subject(s, cfg, limits, log)
        except Exception as exc:  # a subject that cannot even be laid out
            rows = [{"subject": s.name, "error": f"{type(exc).__name__}: {exc}"}]
            if log:
                log(s.name)
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
        "max_run_time_s": cfg.max_run_time,
        # A timing whose IQR is beyond this fraction of its median is not tight.
        "noise_bound": cfg.threshold,
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
