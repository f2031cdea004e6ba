"""The command line: ``python -m verify {list,check,bench,report}``.

Exit codes (DESIGN.md): 0 every check passed (skips allowed), 1 a check failed or
errored, 2 bad usage or a target that cannot be resolved. A user's mistake is one line
on stderr, never a traceback; results gathered before an interruption are written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exit code is 2 too, with usage
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m verify", description="Verify PyTorch activation functions.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ls = sub.add_parser("list", help="list the registered activations")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    ck = sub.add_parser("check", help="run the checks (the CI gate)")
    _add_run_options(ck)
    ck.add_argument("--json", metavar="FILE", help="write the results JSON here")
    ck.add_argument("--junit", metavar="FILE", help="write JUnit XML here")

    bp = sub.add_parser("bench", help="time the activations against built-ins, torch.compile and the bandwidth")
    bp.add_argument("targets", nargs="*", metavar="TARGET")
    bp.add_argument("--json", metavar="FILE", help="write the benchmark JSON here")
    bp.add_argument("--sizes", type=_ids, help="element counts, e.g. 2^10,2^24 (default 2^10,2^14,2^18,2^22)")
    bp.add_argument("--dtypes", type=_ids, help="default float32,bfloat16")
    bp.add_argument("--variants", type=_ids, help="eager,compiled,builtin,naive (default all)")
    bp.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    bp.add_argument("--quick", action="store_true", help="a smoke run: two sizes, float32, no compile (CI)")
    bp.add_argument("--init", type=_json_object, default=None)
    bp.add_argument("--quiet", "-q", action="store_true")

    rp = sub.add_parser("report", help="run the checks and write a self-contained HTML report")
    _add_run_options(rp)
    rp.add_argument("--out", default="reports", metavar="DIR", help="where index.html and results.json go")
    rp.add_argument("--no-bench", action="store_true", help="leave out the throughput benchmarks")
    rp.add_argument("--quick-bench", dest="quick", action="store_true", help="benchmarks in bench's --quick mode")
    rp.add_argument("--from", dest="from_json", metavar="FILE", help="re-render a results JSON without re-running")
    return p


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="registry name, pkg.mod:Name or path/to/file.py:Name (default: every registered activation)")
    p.add_argument("--only", type=_ids, help="comma-separated check ids to run")
    p.add_argument("--skip", type=_ids, default=[], help="comma-separated check ids to leave out")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    p.add_argument("--dtype", type=_ids, default=None,
                   help="low-precision dtypes to test (default float32,bfloat16,float16)")
    p.add_argument("--jobs", "-j", type=int, default=None,
                   help="worker processes (default: one per core, at most one per target)")
    p.add_argument("--profile", choices=["quick", "ci", "thorough"], default="ci")
    p.add_argument("--init", type=_json_object, default=None,
                   help="JSON keyword arguments for an nn.Module class target, e.g. '{\"alpha\": 0.5}'")
    p.add_argument("--timeout", type=float, default=None, help="seconds one check may run (default by profile)")
    p.add_argument("--param", dest="params", type=_param, action="append", default=None, metavar="NAME=VALUE",
                   help="set a parameter (a spec's, or a module's parameter or buffer, broadcast to its shape); "
                        "repeatable")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")


def _ids(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _param(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"--param {text!r}: expected NAME=VALUE")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--param {text!r}: the value is not a number") from None


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--init is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--init must be a JSON object")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    from verify.errors import TargetError

    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "bench":
            return cmd_bench(args)
        raise UsageError(f"unknown command {args.command}")
    except (UsageError, TargetError) as exc:
        print(f"verify: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("verify: interrupted", file=sys.stderr)
        return 130


# -- list -----------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    import acts
    from acts import registry

    specs = list(acts.all_activations())
    if args.json:
        print(json.dumps([s.to_json() for s in specs], indent=2))
    else:
        print(f"{'name':<18} {'kind':<16} {'params':<24} {'kinks':<18} {'in-place':<9} built-in")
        for s in specs:
            params = ",".join(p.name + ("[C]" if p.per_channel else "") for p in s.params) or "-"
            kinks = ",".join(f"{k:g}" for k in s.kink_points()) or "-"
            print(f"{s.name:<18} {s.kind.value:<16} {params:<24} {kinks:<18} {'yes' if s.inplace else '-':<9} "
                  f"{s.builtin_name or '-'}")
    for name, reason in registry.load_errors:
        print(f"verify: warning: plugin {name} failed to load: {reason}", file=sys.stderr)
    return EXIT_OK


# -- check ----------------------------------------------------------------------
def _context(args: argparse.Namespace) -> Any:
    from verify.checks import Context

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is visible")
    names = args.dtype or ["float32", "bfloat16", "float16"]
    unknown = [n for n in names if n not in DTYPES]
    if unknown:
        raise UsageError(f"unknown dtype(s) {unknown}; choose from {', '.join(DTYPES)}")
    return Context(device=device, dtypes=tuple(DTYPES[n] for n in names), profile=args.profile)


def cmd_check(args: argparse.Namespace) -> int:
    from verify import report_io

    ctx = _context(args)
    subjects, checks = _prepare(args, ctx)
    started = time.time()
    results = run_all(subjects, checks, ctx, args)
    payload = report_io.payload(results, ctx, started)
    if args.json:
        report_io.write_json(payload, args.json)
    if args.junit:
        report_io.write_junit(results, args.junit)
    print(report_io.summary_table(results), file=sys.stderr if args.quiet else sys.stdout)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAIL


def bench_config(args: argparse.Namespace, device: str) -> Any:
    from verify.bench import VARIANTS, BenchConfig, parse_sizes

    cfg = BenchConfig.quick(device) if getattr(args, "quick", False) else BenchConfig(device=device)
    try:
        if getattr(args, "sizes", None):
            sizes = parse_sizes(args.sizes)
            cfg = replace(cfg, sizes=sizes, compile_sizes=tuple(n for n in sizes if n in cfg.compile_sizes)
                          or (max(sizes),))
    except ValueError as exc:
        raise UsageError(f"bad --sizes: {exc}") from None
    if getattr(args, "dtypes", None):
        unknown = [d for d in args.dtypes if d not in DTYPES]
        if unknown:
            raise UsageError(f"unknown dtype(s) {unknown}; choose from {', '.join(DTYPES)}")
        cfg = replace(cfg, dtypes=tuple(DTYPES[d] for d in args.dtypes))
    if getattr(args, "variants", None):
        unknown = [v for v in args.variants if v not in VARIANTS]
        if unknown:
            raise UsageError(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
        cfg = replace(cfg, variants=tuple(args.variants))
    return cfg


def cmd_bench(args: argparse.Namespace) -> int:
    import acts
    from verify.bench import run_bench, summary
    from verify.results import write_atomic
    from verify.targets import resolve

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is visible")
    cfg = bench_config(args, device)
    subjects = [resolve(t, args.init) for t in (args.targets or acts.names())]
    log = None if args.quiet else (lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True))
    data = run_bench(subjects, cfg, log)
    if args.json:
        write_atomic(args.json, json.dumps(data, indent=1) + "\n")
    print(summary(data, dtype=str(cfg.dtypes[0]).removeprefix("torch.")))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from verify import report_io
    from verify.report import write_report

    out = Path(args.out)
    if args.from_json:
        try:
            data, results = report_io.load_json(args.from_json)
            bench_json = Path(args.from_json).with_name("bench.json")
            if "bench" not in data and bench_json.is_file():
                data["bench"] = json.loads(bench_json.read_text())
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(f"cannot read results from {args.from_json}: {exc}") from None
    else:
        ctx = _context(args)
        subjects, checks = _prepare(args, ctx)
        started = time.time()
        results = run_all(subjects, checks, ctx, args)
        data = report_io.payload(results, ctx, started)
        # The results first: a renderer that fails loses nothing already computed.
        report_io.write_json(data, str(out / "results.json"))
        print(report_io.summary_table(results), file=sys.stderr if args.quiet else sys.stdout)
        if not args.no_bench:
            from verify.bench import run_bench
            from verify.targets import resolve

            log = None if args.quiet else (lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True))
            bench = run_bench([resolve(t, args.init) for _, t in subjects], bench_config(args, ctx.device), log)
            report_io.write_json(bench, str(out / "bench.json"))
            data["bench"] = bench
            report_io.write_json(data, str(out / "results.json"))
    path = write_report(data, out)
    print(f"report written to {path}")
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAIL


def _prepare(args: argparse.Namespace, ctx: Any) -> tuple[list[tuple[str, str]], list[Any]]:
    """Resolve every target up front (a bad one is exit 2 before any work) and pick
    the checks. Returns (name, target) pairs: workers re-resolve by target."""
    import acts
    from verify.runner import select_checks
    from verify.targets import resolve

    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    checks = select_checks(args.only, args.skip, ctx.profile)
    targets = args.targets or acts.names()
    if args.init and len(targets) != 1:
        raise UsageError("--init applies to a single class target")
    pairs = []
    for t in targets:
        subject = resolve(t, args.init, _params(args))
        pairs.append((subject.name, t))
    if args.jobs is None:
        args.jobs = max(1, min(os.cpu_count() or 1, len(pairs)))
    return pairs, checks


def run_all(pairs: list[tuple[str, str]], checks: list[Any], ctx: Any, args: argparse.Namespace) -> list[Any]:
    """Run every subject, in this process or in ``--jobs`` workers. A subject whose
    worker dies is retried alone, then reported as an error; the others are kept."""
    from verify.runner import error_subject

    progress = _Progress(len(pairs), quiet=args.quiet)
    done: dict[int, Any] = {}
    work = [(i, name, target) for i, (name, target) in enumerate(pairs)]
    try:
        if args.jobs == 1:
            for i, _, target in work:
                done[i] = _run_one(target, args.init, [c.id for c in checks], ctx, args.timeout, _params(args))
                progress.subject(done[i])
        else:
            suspects = _run_pool(work, checks, ctx, args, done, progress, args.jobs)
            for item in suspects:  # alone, so a crash names its culprit
                if _run_pool([item], checks, ctx, args, done, progress, 1):
                    i, name, target = item
                    done[i] = error_subject(name, target, checks, "the worker process died while checking it")
                    progress.subject(done[i])
    except KeyboardInterrupt:
        print("verify: interrupted; writing the results gathered so far", file=sys.stderr)
    return [done[i] for i in sorted(done)]


def _run_pool(work: list[tuple[int, str, str]], checks: list[Any], ctx: Any, args: argparse.Namespace,
              done: dict[int, Any], progress: _Progress, jobs: int) -> list[tuple[int, str, str]]:
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // jobs)
    suspects = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=torch.set_num_threads, initargs=(threads,)) as pool:
        futures = {pool.submit(_run_one_json, target, args.init, [c.id for c in checks], _ctx_json(ctx), args.timeout,
                               _params(args)): (i, name, target) for i, name, target in work}
        for fut in as_completed(futures):
            i, name, target = futures[fut]
            try:
                from verify.results import SubjectResult

                done[i] = SubjectResult.from_json(fut.result())
                progress.subject(done[i])
            except BrokenProcessPool:
                suspects.append((i, name, target))
    return suspects


def _ctx_json(ctx: Any) -> dict[str, Any]:
    return {"device": ctx.device, "dtypes": [str(d).removeprefix("torch.") for d in ctx.dtypes], "profile": ctx.profile}


def _run_one_json(target: str, init: dict | None, check_ids: list[str], ctx: dict[str, Any],
                  timeout: float | None, params: dict[str, float] | None = None) -> dict[str, Any]:
    from verify.checks import Context

    context = Context(device=ctx["device"], dtypes=tuple(DTYPES[d] for d in ctx["dtypes"]), profile=ctx["profile"])
    return _run_one(target, init, check_ids, context, timeout, params).to_json()


def _params(args: argparse.Namespace) -> dict[str, float] | None:
    """``--param NAME=VALUE`` options as a dict (the last of a repeated name wins)."""
    return dict(args.params) if getattr(args, "params", None) else None


def _run_one(target: str, init: dict | None, check_ids: list[str], ctx: Any, timeout: float | None,
             params: dict[str, float] | None = None) -> Any:
    from verify.checks import CHECKS
    from verify.runner import error_subject, run_subject
    from verify.targets import resolve

    checks = [CHECKS[c] for c in check_ids]
    try:
        subject = resolve(target, init, params)
    except Exception as exc:  # resolved once already; a second failure is the subject's
        return error_subject(target, target, checks, f"cannot load the subject: {exc}")
    return run_subject(subject, checks, ctx, timeout_s=timeout)


class _Progress:
    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.quiet, self.count, self.start = total, quiet, 0, time.perf_counter()

    def subject(self, result: Any) -> None:
        self.count += 1
        if self.quiet:
            return
        counts: dict[str, int] = {}
        for c in result.checks:
            counts[c.status.value] = counts.get(c.status.value, 0) + 1
        bad = [c.id for c in result.checks if not c.ok]
        mark = "ok  " if not bad else "FAIL"
        tail = f"  failing: {', '.join(bad)}" if bad else ""
        width = len(str(self.total))
        elapsed = time.perf_counter() - self.start
        print(f"[{self.count:>{width}}/{self.total}] {mark} {result.name:<22} "
              f"{' '.join(f'{k} {v}' for k, v in sorted(counts.items()))}  ({elapsed:.1f} s){tail}",
              file=sys.stderr, flush=True)
