"""The command line: ``python -m verify {list,check,bench,report,merge}``.

Exit codes (docs/design.md, "Contracts"): 0 every check ran and passed (skips allowed), 1 a check failed
or errored, 2 bad usage or a target that cannot be resolved, 130 stopped by Ctrl-C (SIGINT)
and 143 by SIGTERM, with what finished written. A user's mistake is one line on stderr,
never a traceback. Every subject runs in a worker process (verify.runner.Pool): nothing a
subject does reaches this process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from verify.results import Status, SubjectResult, printable, smallest_text

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

MARK = {Status.PASS: "pass", Status.FAIL: "FAIL", Status.SKIP: "skip", Status.ERROR: "ERROR"}

class UsageError(Exception):
    pass


class _Help(argparse.HelpFormatter):
    """Every option's default in its help, unless the help already says it or there is
    none to say (a flag that is off, an option that is unset)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "default" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # argparse's own exit code is 2 too, with usage
        raise UsageError(message)


def _version() -> str:
    """The installed package's version; the source's own when it runs from a checkout."""
    from importlib import metadata

    try:
        return metadata.version("activation-verify")
    except metadata.PackageNotFoundError:
        from verify import __version__

        return __version__


def build_parser(prog: str = "verify") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Verify PyTorch activation functions.",
                epilog="An output file's missing parent folders are created.")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ls = sub.add_parser("list", help="list the registered activations")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    ck = sub.add_parser("check", help="run the checks (the CI gate)",
                        epilog="Exit 0: every check ran and passed (skips allowed); 1: a check failed or errored; "
                               "2: bad usage; 130 (Ctrl-C) or 143 (SIGTERM): stopped, with what finished written. "
                               "An output file's missing parent folders are created.")
    _add_run_options(ck)
    from verify.ci import add_gate_options

    add_gate_options(ck)
    ck.add_argument("--json", metavar="FILE",
                    help="write the results JSON here (rewritten as each subject finishes; missing folders are created)")
    ck.add_argument("--junit", metavar="FILE",
                    help="write JUnit XML here (rewritten as each subject finishes; missing folders are created)")

    bp = sub.add_parser("bench", help="time the activations against built-ins, torch.compile and the bandwidth")
    bp.add_argument("targets", nargs="*", metavar="TARGET",
                    help="registry name, pkg.mod:Name or path/to/file.py:Name (default: every registered activation)")
    bp.add_argument("--json", metavar="FILE", help="write the benchmark JSON here (missing folders are created)")
    bp.add_argument("--sizes", type=_ids, help="element counts, e.g. 2^10,2^24 (default 2^10,2^22)")
    bp.add_argument("--dtype", dest="dtypes", type=_ids, metavar="DTYPE", help="dtypes to time (default float32)")
    bp.add_argument("--dtypes", dest="dtypes", type=_ids, help=argparse.SUPPRESS)  # the old spelling, still taken
    bp.add_argument("--variants", type=_ids, help="eager,compiled,builtin,naive (default all)")
    bp.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu",
                    help="where to time (auto: cuda when a CUDA device is visible)")
    bp.add_argument("--quick", action="store_true", help="a smoke run: two sizes, float32, no compile (CI)")
    bp.add_argument("--init", type=_json_object, default=None,
                    help="JSON keyword arguments for an nn.Module class target, e.g. '{\"alpha\": 0.5}'")
    bp.add_argument("--quiet", "-q", action="store_true", help="no progress lines")

    rp = sub.add_parser("report", help="run the checks and write a self-contained HTML report")
    _add_run_options(rp)
    rp.add_argument("--out", default="reports", metavar="DIR",
                    help="where index.html and results.json go (created if missing)")
    rp.add_argument("--no-bench", action="store_true", help="leave out the throughput benchmarks")
    rp.add_argument("--quick-bench", dest="quick", action="store_true", help="benchmarks in bench's --quick mode")
    rp.add_argument("--from", dest="from_json", metavar="FILE", nargs="+",
                    help="render results JSON without running anything (several: the shards of one run, merged); "
                         "exits 0 once the page is written, whatever the results hold")

    mp = sub.add_parser("merge", help="join the results of several runs (the shards of one run) into one JSON",
                        epilog="Exit 0: merged (whatever the results hold, so that a report can follow); "
                               "with --gate, 1 when a check failed or errored; 2: bad usage or results that "
                               "cannot be merged.")
    mp.add_argument("inputs", nargs="+", metavar="RESULTS.json", help="results files (check --json), one per shard")
    mp.add_argument("-o", "--output", required=True, metavar="FILE", help="the merged results JSON")
    mp.add_argument("--gate", action="store_true",
                    help="be the gate: exit 1 when a check failed or errored in the merged results "
                         "(without it, merge exits 0 once it has written them)")
    return p


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="registry name, pkg.mod:Name or path/to/file.py:Name (default: every registered activation)")
    p.add_argument("--only", type=_ids, help="comma-separated check ids to run (default: every check of the profile)")
    p.add_argument("--skip", type=_ids, default=[], help="comma-separated check ids to leave out (default: none)")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu",
                   help="where the checks run (auto: cuda when a CUDA device is visible)")
    p.add_argument("--dtype", type=_ids, default=None,
                   help="low-precision dtypes to test (default float32,bfloat16,float16)")
    p.add_argument("--jobs", "-j", type=int, default=None,
                   help="worker processes (default: one per core, at most one per target)")
    p.add_argument("--profile", choices=["quick", "ci", "thorough"], default="ci",
                   help="how hard to look: examples per property, parameter settings, time limits "
                        "(thorough adds the compile check)")
    p.add_argument("--init", type=_json_object, default=None,
                   help="JSON keyword arguments for an nn.Module class target, e.g. '{\"alpha\": 0.5}'")
    p.add_argument("--timeout", type=_seconds, default=None,
                   help="seconds one check may run (default by profile: quick 60, ci 120, thorough 600)")
    p.add_argument("--memory-limit", type=_bytes, default=None, metavar="SIZE",
                   help="memory one worker process may take, e.g. 4G or 512M (default: half the machine's "
                        "memory shared among the workers, at least 1G each); past it the check is an error")
    p.add_argument("--param", dest="params", type=_param, action="append", default=None, metavar="NAME=VALUE",
                   help="set a parameter (a spec's, or a module's parameter or buffer, broadcast to its shape); "
                        "repeatable")
    p.add_argument("--reference", metavar="REF",
                   help="a target the subject is a fast version of (the matches check compares them: forward, "
                        "gradients, every dtype)")
    p.add_argument("--layout", metavar="KIND[:DIM[:WIDTH]]", default=None,
                   help="state the subjects' layout where inference cannot tell: KIND is elementwise, gated, vector "
                        "or mixing, DIM the feature dimension (1 or -1), WIDTH the input's feature width, e.g. "
                        "gated:-1:8 (default: inferred by probing)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    p.add_argument("--verbose", "-v", action="store_true", help="list every skipped check with its reason")


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


def _params(args: argparse.Namespace) -> dict[str, float] | None:
    """``--param NAME=VALUE`` options as a dict (the last of a repeated name wins)."""
    return dict(args.params) if getattr(args, "params", None) else None


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--init is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--init must be a JSON object")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds, not {text}")
    return value


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _bytes(text: str) -> int:
    number, unit = text.strip().upper().removesuffix("B").removesuffix("I"), ""
    if number[-1:] in _UNITS:
        number, unit = number[:-1], number[-1]
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4G, 512M)") from None
    if not (math.isfinite(value) and value >= 1 << 20):
        raise argparse.ArgumentTypeError(f"must be at least 1M, not {text}")
    return int(value)


class Stopped(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the run stops and writes what finished."""

    signum = signal.SIGTERM


def _on_sigterm(signum: int, frame: object) -> None:
    raise Stopped


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """The command line; its help names it as it was invoked (``verify``, the console
    script, or ``python -m verify``) unless ``prog`` is given."""
    from verify.errors import TargetError

    if prog is None:
        prog = "python -m verify" if Path(sys.argv[0]).name == "__main__.py" else "verify"

    for stream in (sys.stdout, sys.stderr):  # a name the terminal cannot encode is spelled out, not a crash
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        args = build_parser(prog).parse_args(argv)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "merge":
            return cmd_merge(args)
        raise UsageError(f"unknown command {args.command}")
    except (UsageError, TargetError) as exc:
        print(f"verify: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        print(f"verify: stopped by {signal.Signals(signum).name}", file=sys.stderr)
        return 128 + signum
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


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
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    reference = getattr(args, "reference", None)
    options: dict[str, Any] = {"matches": {"reference": reference}} if reference else {}
    layout = getattr(args, "layout", None)
    if layout:
        from verify.layout import LayoutError, parse

        try:
            parse(layout)
        except LayoutError as exc:
            raise UsageError(f"--layout: {exc}") from None
        options["layout"] = {"text": layout}
    return Context(device=device, dtypes=tuple(DTYPES[n] for n in names), profile=args.profile, options=options)


def cmd_check(args: argparse.Namespace) -> int:
    from verify import ci
    from verify import results as R

    ctx = _context(args)
    json_path = _output(args.json, "--json")
    junit_path = _output(args.junit, "--junit")
    if json_path and json_path == junit_path:
        raise UsageError("--json and --junit name the same file")
    if args.baseline and args.write_baseline:
        raise UsageError("--baseline and --write-baseline: use one (write it once, then gate against it)")
    if args.baseline:
        ci.load_baseline(args.baseline)  # a broken baseline is exit 2 before any work
    _output(args.write_baseline, "--write-baseline")
    started = time.time()

    def write(results: list[SubjectResult], complete: bool, stopped_by: str | None = None) -> None:
        if json_path:
            R.write_json(R.payload(results, ctx, started, complete, stopped_by), json_path)
        if junit_path:
            R.write_junit(results, junit_path)

    results, stopped = gate(args, ctx, _throttled(lambda done: write(done, complete=False)))
    with _signals_held():
        write(results, complete=stopped is None, stopped_by=stopped.name if stopped else None)
        out = sys.stderr if args.quiet else sys.stdout
        if stopped is not None:
            print(summary_table(results, stopped, verbose=args.verbose), file=out, flush=True)
            return _verdict(results, stopped, [str(p) for p in (json_path, junit_path) if p])
        # The baseline decides the exit code, so it writes the verdict line too.
        code, lines, verdict = ci.gate(args, [r.to_json() for r in results], _verdict(results, None, []) == EXIT_OK)
        print(summary_table(results, verdict=verdict, verbose=args.verbose), file=out, flush=True)
        for line in lines:
            print(printable(line) if not line.startswith("::") else line)
        return code


def _verdict(results: list[SubjectResult], stopped: signal.Signals | None, written: list[str]) -> int:
    if stopped is not None:
        where = f"; what finished is in {', '.join(written)}" if written else ""
        print(f"verify: stopped by {stopped.name} after {len(results)} subject(s){where}", file=sys.stderr)
        return 128 + stopped
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAIL


def gate(args: argparse.Namespace, ctx: Any,
         on_partial: Callable[[list[SubjectResult]], None]) -> tuple[list[SubjectResult], signal.Signals | None]:
    """Check every target (every registered activation by default) in worker processes.
    Returns the finished subjects in target order and the signal that stopped the run,
    if one did; ``on_partial`` gets the finished ones each time one more finishes."""
    import acts
    from verify.ci import expand
    from verify.progress import Progress
    from verify.runner import (
        Job,
        Pool,
        default_memory_limit,
        error_subject,
        select_checks,
        share_out,
        time_limit_s,
    )

    checks = select_checks(args.only, args.skip, ctx.profile)
    if not checks:  # a gate that ran nothing has passed nothing
        raise UsageError("no check left to run after --only and --skip")
    requested = args.targets or acts.names()
    jobs = args.jobs or os.cpu_count() or 1  # workers start as they are needed
    memory = args.memory_limit if args.memory_limit is not None else default_memory_limit(jobs)
    done: dict[int, SubjectResult] = {}
    parts: dict[int, list[SubjectResult]] = {}
    expected: dict[int, int] = {}

    def finished(i: int, result: SubjectResult) -> None:
        parts.setdefault(i, []).append(result)
        if len(parts[i]) < expected.get(i, 1):
            return
        done[i] = _joined(parts.pop(i), [c.id for c in checks])
        progress.subject_done(done[i])
        on_partial([done[k] for k in sorted(done)])

    def checking(job: Job, check_id: str, started: bool) -> None:
        if started:
            progress.check_started(printable(job.name), check_id, worker=(job.index, job.check_ids[0]))
        else:
            progress.check_done(worker=(job.index, job.check_ids[0]))

    stopped = None
    progress = Progress(0, len(checks), quiet=True)
    with Pool(jobs, memory) as pool:
        try:
            # A whole file's import is the subject's code too: it is discovered in a worker.
            targets, skipped = expand(requested, getattr(args, "shard", None),
                                      lambda where: pool.discover(where, time_limit_s(ctx, args.timeout)),
                                      getattr(args, "imported", False))
            if args.init and len(targets) != 1:
                raise UsageError("--init applies to a single class target")
            progress = Progress(len(targets), len(checks), quiet=args.quiet)
            for line in skipped:
                progress.note(printable(line))
            if getattr(args, "reference", None):  # loaded in a worker, like a target, before any check
                from verify.errors import TargetError

                try:
                    (loaded,) = pool.resolve([args.reference], None, time_limit_s(ctx, args.timeout))
                except TargetError as exc:
                    raise UsageError(f"--reference: {exc}") from None
                if isinstance(loaded, SubjectResult):
                    raise UsageError(f"--reference {args.reference}: {loaded.info['error']}")
            names = pool.resolve(targets, args.init, time_limit_s(ctx, args.timeout), _params(args))
            todo = []
            for i, (target, name) in enumerate(zip(targets, names, strict=True)):
                if isinstance(name, SubjectResult):  # its loading exited, died or hung
                    finished(i, error_subject(name.name, target, checks, name.info["error"]))
                else:
                    todo.append((i, name, target))
            # Fewer subjects than workers (one activation, the end of a shard): a subject's
            # checks are shared out among the idle workers and joined again.
            split = max(1, min(len(checks), jobs // max(1, len(todo))))
            work = []
            groups = share_out(checks, split)
            for i, name, target in todo:
                expected[i] = len(groups)
                work += [Job(i, name, target, g, ctx, args.init, args.timeout, _params(args)) for g in groups]
            pool.run(work, finished, checking)
        except KeyboardInterrupt as exc:
            stopped = signal.Signals(getattr(exc, "signum", signal.SIGINT))
            pool.close(kill=True)
        finally:
            progress.close()
    return [done[k] for k in sorted(done)], stopped


def _joined(parts: list[SubjectResult], order: list[str]) -> SubjectResult:
    """One subject's results from the workers that shared its checks, in the public order."""
    if len(parts) == 1:
        return parts[0]
    rank = {cid: n for n, cid in enumerate(order)}
    checks = sorted((c for p in parts for c in p.checks), key=lambda c: rank.get(c.id, len(rank)))
    info = next((p.info for p in parts if "curve" in p.info), None) or next((p.info for p in parts if p.info), {})
    return replace(parts[0], checks=tuple(checks), info=info)


def _throttled(write: Callable[[list[SubjectResult]], None]) -> Callable[[list[SubjectResult]], None]:
    """``write`` as each subject finishes, skipped while the last write's cost is more
    than a tenth of the time since: a small run is written after every subject, the
    registry's 4 MB of results about once a second."""
    next_at = 0.0

    def maybe(done: list[SubjectResult]) -> None:
        nonlocal next_at
        start = time.monotonic()
        if start >= next_at:
            write(done)
            next_at = start + 10 * (time.monotonic() - start)

    return maybe


class _signals_held:
    """Ctrl-C and SIGTERM wait while the results of a stopped run are written."""

    def __enter__(self) -> None:
        self.previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)} \
            if _main_thread() else {}

    def __exit__(self, *exc: object) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def _output(path: str | None, flag: str) -> Path | None:
    """An output file, checked before any work: not a folder, and in a folder this
    process can write to (missing folders are made)."""
    if path is None:
        return None
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"{flag} {path}: is a folder, not a file")
    _folder(out.parent, flag, path)
    return out


def _folder(folder: Path, flag: str, path: str) -> None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag} {path}: {existing} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot make the folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: cannot write in {folder}")


def bench_config(args: argparse.Namespace, device: str) -> Any:
    from verify.analysis.bench import VARIANTS, BenchConfig, parse_sizes

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
    from verify.analysis.bench import run_bench, summary
    from verify.progress import PhasedProgress
    from verify.results import write_atomic
    from verify.targets import resolve

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is visible")
    cfg = bench_config(args, device)
    json_path = _output(args.json, "--json")
    subjects = [resolve(t, args.init, _params(args)) for t in (args.targets or acts.names())]
    progress = PhasedProgress(args.quiet)
    try:
        data = run_bench(subjects, cfg, progress.log, progress.plan)
    finally:
        progress.close()
    if json_path:
        write_atomic(json_path, json.dumps(data, indent=1) + "\n")
    print(summary(data, dtype=str(cfg.dtypes[0]).removeprefix("torch.")))
    return EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    from verify import ci
    from verify import results as R

    out = _output(args.output, "--output")
    assert out is not None
    merged = ci.merge([ci.load_results(f) for f in args.inputs])
    R.write_json(merged, out)
    subjects = [SubjectResult.from_json(s) for s in merged["subjects"]]
    print(f"merged {len(args.inputs)} result file(s), {len(subjects)} subject(s), into {out}")
    if not args.gate:  # its job was the merge: a report can follow in the same pipeline step
        print(verdict_line(subjects, gate=False))
        return EXIT_OK
    print(verdict_line(subjects))
    return EXIT_OK if all(r.ok for r in subjects) else EXIT_FAIL


def cmd_report(args: argparse.Namespace) -> int:
    """The checks' results, then the benchmarks, then the page. results.json and
    index.html are a pair: the page is rendered from the results just written, and a
    run first removes the pair it replaces (with bench.json), so a run stopped half way
    never leaves a page that disagrees with the results beside it."""
    from verify import results as R
    from verify.report import write_report

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out}: is a file, not a folder")
    _folder(out, "--out", args.out)
    files = {name: out / name for name in ("results.json", "index.html", "bench.json")}
    for name, path in files.items():
        if path.is_dir():
            raise UsageError(f"--out {args.out}: {name} there is a folder")
    if args.from_json and len(args.from_json) > 1:
        from verify import ci

        data = ci.merge([ci.load_results(f) for f in args.from_json])
        results = [SubjectResult.from_json(s) for s in data["subjects"]]
    elif args.from_json:
        (source,) = args.from_json
        try:
            data, results = R.load_json(source)
            bench_json = Path(source).with_name("bench.json")
            if "bench" not in data and bench_json.is_file():
                data["bench"] = json.loads(bench_json.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read results from {source}: {exc}") from None
    else:
        ctx = _context(args)
        for path in files.values():
            path.unlink(missing_ok=True)
        started = time.time()
        results, stopped = gate(args, ctx, _throttled(lambda done: R.write_json(R.payload(done, ctx, started, False),
                                                                                 files["results.json"])))
        if stopped is not None:
            with _signals_held():
                R.write_json(R.payload(results, ctx, started, False, stopped.name), files["results.json"])
                print(summary_table(results, stopped, verbose=args.verbose), file=sys.stderr if args.quiet else sys.stdout,
                      flush=True)
                print("verify: index.html not written: the run was stopped (render what finished with "
                      f"report --from {files['results.json']})", file=sys.stderr)
                return _verdict(results, stopped, [str(files["results.json"])])
        data = R.payload(results, ctx, started)
        # The results first: a renderer that fails loses nothing already computed.
        R.write_json(data, files["results.json"])
        print(summary_table(results, verbose=args.verbose), file=sys.stderr if args.quiet else sys.stdout)
        if not args.no_bench:
            from verify.analysis.bench import run_bench
            from verify.progress import PhasedProgress
            from verify.targets import resolve

            # Benchmarks run in this process: a subject with an error (it may have exited,
            # crashed or hung its worker) is left out of them.
            benched = [s for s in results if not any(c.status is Status.ERROR for c in s.checks)]
            cfg = bench_config(args, ctx.device)
            progress = PhasedProgress(args.quiet, hint="leave it out with --no-bench, or --quick-bench for a smoke run")
            try:
                bench = run_bench([resolve(s.target, args.init, _params(args)) for s in benched], cfg, progress.log,
                                  progress.plan)
            finally:
                progress.close()
            R.write_json(bench, files["bench.json"])
            data["bench"] = bench
            R.write_json(data, files["results.json"])
    path = write_report(data, out)
    print(f"report written to {path}")
    if args.from_json:  # rendering was its whole job; the run that made the results was the gate
        print(verdict_line(results, gate=False))
        return EXIT_OK
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAIL


# -- the terminal ------------------------------------------------------------------
def summary_table(results: Sequence[SubjectResult], stopped: signal.Signals | None = None,
                  verdict: str | None = None, verbose: bool = False) -> str:
    """One row per subject, then every failure, error and finding (and, ``verbose``,
    skip) on its own line, then the verdict (never PASSED for a run that was stopped;
    ``verdict`` when a baseline decided it). A subject's text is shown, never obeyed (see
    verify.results.printable)."""
    lines = []
    width = max([len(printable(r.name)) for r in results] + [7])
    lines.append(f"{'subject':<{width}}  pass  fail  error  skip")
    for r in results:
        counts = dict.fromkeys(Status, 0)
        for c in r.checks:
            counts[c.status] += 1
        lines.append(f"{printable(r.name):<{width}}  {counts[Status.PASS]:>4}  {counts[Status.FAIL]:>4}  "
                     f"{counts[Status.ERROR]:>5}  {counts[Status.SKIP]:>4}")
    # A layout other than the plain one (elementwise, features at dimension 1, the whole
    # line) is said once: it decides what the checks judge.
    layouts = [(r, r.info["layout"]) for r in results if isinstance(r.info.get("layout"), dict)
               and (r.info["layout"].get("kind") != "elementwise" or r.info["layout"].get("dim") != 1
                    or r.info["layout"].get("domain") != ["-inf", "inf"] or r.info["layout"].get("stated"))]
    if layouts:
        lines.append("")
        lines += [f"layout {printable(r.name)}: {printable(str(layout.get('text')))}" for r, layout in layouts]
    problems = [(r, c) for r in results for c in r.checks if c.status in (Status.FAIL, Status.ERROR)]
    if problems:
        lines.append("")
        for r, c in problems:
            lines.append(f"{MARK[c.status]} {printable(r.name)} [{c.id}]: {printable(c.summary)}")
            if c.repro:
                lines.append(f"     reproduce: {printable(c.repro)}")
            small = smallest_text(c.smallest_input) if c.status is Status.FAIL else None
            if small:
                lines.append(f"     smallest input: {small}")
    findings = [(r, c, f) for r in results for c in r.checks for f in c.findings]
    if findings:
        lines.append("")
        for r, c, f in findings:
            lines.append(f"finding {printable(r.name)} [{c.id}]: {printable(f)}")
    skips = [(r, c) for r in results for c in r.checks if c.status is Status.SKIP] if verbose else []
    if skips:
        lines.append("")
        for r, c in skips:
            lines.append(f"skip {printable(r.name)} [{c.id}]: {printable(c.summary)}")
    lines.append("")
    lines.append(verdict_line(results, stopped, verdict))
    return "\n".join(lines)


def verdict_line(results: Sequence[SubjectResult], stopped: signal.Signals | None = None,
                 verdict: str | None = None, gate: bool = True) -> str:
    """The counts after PASSED or FAILED (STOPPED for a stopped run), after ``verdict``
    (a baseline's sentence), or, not ``gate`` (a merge, a render), after no verdict."""
    totals = dict.fromkeys(Status, 0)
    for r in results:
        for c in r.checks:
            totals[c.status] += 1
    counts = (f"{len(results)} subject(s), {totals[Status.PASS]} passed, {totals[Status.FAIL]} failed, "
              f"{totals[Status.ERROR]} errors, {totals[Status.SKIP]} skipped")
    if stopped is not None:
        return f"STOPPED by {stopped.name}: {counts}"
    if verdict is not None:
        return f"{verdict} ({counts})"
    if not gate:
        return f"results: {counts}"
    return f"{'PASSED' if totals[Status.FAIL] == totals[Status.ERROR] == 0 else 'FAILED'}: {counts}"
