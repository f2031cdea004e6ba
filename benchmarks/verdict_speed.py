"""Time to a verdict, against the floor: the gate beside a plain gradcheck script.

    python benchmarks/verdict_speed.py [--pairs 3] [--jobs 2] [--skip-zoo]

Three figures, each from runs made side by side in this one invocation (the machine is
shared: only ratios and medians measured together mean anything):

1. The default gate on 19 torch built-in activations (``python -m verify check --jobs
   N torch.nn:ReLU ...``) against what a user writes instead: one process that runs
   float64 ``gradcheck`` and ``gradgradcheck`` on the same 19. The two commands
   alternate, ``--pairs`` times; wall and CPU time (user + system of the child) are
   reported as medians, with the ratio of each pair.
2. One activation with ``--jobs 1``: the wall time, the interpreter's import of
   ``verify.cli`` (torch, numpy and the rest), and each check's own time from the
   results JSON; what is left is worker start and the parent's own work.
   With ``--each``, every registered activation once with the default command line
   (a subject's checks shared out among the cores): the median wall time.
3. A zoo of 72 third-party classes (``benchmarks/zoo/zoo72.py``) with ``--jobs N``:
   seconds per subject.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BUILTINS = ["ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
            "Sigmoid", "Tanh", "Softplus", "Softsign", "Hardtanh", "Hardswish", "Hardsigmoid", "LogSigmoid"]

PLAIN = """
import torch
from torch import nn
from torch.autograd import gradcheck, gradgradcheck
torch.manual_seed(0)
for name in {names!r}:
    m = getattr(nn, name)().double().eval()
    x = (torch.rand(2, 4, 3, dtype=torch.float64) * 8 - 4).requires_grad_()
    f = (lambda t, m=m: m(t))
    gradcheck(f, (x,))
    try:
        gradgradcheck(f, (x,))
    except RuntimeError:
        pass  # no second derivative (Hardsigmoid)
"""


def timed(cmd: list[str]) -> tuple[float, float, int]:
    """(wall s, child CPU s, exit code) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    rc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, rc


def gate_vs_plain(pairs: int, jobs: int) -> None:
    gate = [sys.executable, "-m", "verify", "check", "--jobs", str(jobs), "-q",
            *[f"torch.nn:{n}" for n in BUILTINS]]
    plain = [sys.executable, "-c", PLAIN.format(names=BUILTINS)]
    rows = []
    for _ in range(pairs):
        rows.append((timed(gate), timed(plain)))
    gw = [g[0] for g, _ in rows]
    pw = [p[0] for _, p in rows]
    gc = [g[1] for g, _ in rows]
    pc = [p[1] for _, p in rows]
    print(f"1. gate on {len(BUILTINS)} built-ins (--jobs {jobs}) vs a plain gradcheck script, {pairs} pairs")
    print(f"   gate : wall {statistics.median(gw):6.2f} s  cpu {statistics.median(gc):6.2f} s  "
          f"(exit codes {sorted({g[2] for g, _ in rows})})")
    print(f"   plain: wall {statistics.median(pw):6.2f} s  cpu {statistics.median(pc):6.2f} s")
    print(f"   ratio: wall {statistics.median([g / p for g, p in zip(gw, pw, strict=True)]):.2f}x  "
          f"cpu {statistics.median([g / p for g, p in zip(gc, pc, strict=True)]):.2f}x (median of the pairs)")


def one_activation(name: str, runs: int) -> None:
    walls, imports, checks = [], [], []
    per_check: dict[str, list[float]] = {}
    for _ in range(runs):
        out = Path(tempfile.mkdtemp()) / "r.json"
        wall, _, _ = timed([sys.executable, "-m", "verify", "check", name, "--jobs", "1", "-q", "--json", str(out)])
        walls.append(wall)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import verify.cli"], cwd=ROOT, check=False)
        imports.append(time.perf_counter() - start)
        data = json.loads(out.read_text())
        total = 0.0
        for c in data["subjects"][0]["checks"]:
            per_check.setdefault(c["id"], []).append(c["duration_s"])
            total += c["duration_s"]
        checks.append(total)
    wall, imp, chk = statistics.median(walls), statistics.median(imports), statistics.median(checks)
    print(f"2. one activation ({name}, --jobs 1), median of {runs}: wall {wall:.2f} s; importing verify.cli "
          f"{imp:.2f} s; checks {chk:.2f} s; the rest (worker start, layout, parent) {wall - imp - chk:.2f} s")
    for cid, ts in sorted(per_check.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"     {cid:<15} {statistics.median(ts):6.3f} s")


def each_activation() -> None:
    """Every registered activation once, with the default command line (its checks
    shared out among the cores): the median wall time, and the fastest and slowest."""
    names = subprocess.run([sys.executable, "-c", "import acts; print(' '.join(acts.names()))"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    walls = {n: timed([sys.executable, "-m", "verify", "check", n, "-q"])[0] for n in names}
    fast, slow = min(walls, key=walls.__getitem__), max(walls, key=walls.__getitem__)
    print(f"2b. one activation, default command line, each of the {len(names)} registered once: median "
          f"{statistics.median(walls.values()):.2f} s ({walls[fast]:.2f} s {fast} to {walls[slow]:.2f} s {slow})")


def zoo(jobs: int) -> None:
    out = Path(tempfile.mkdtemp()) / "z.json"
    wall, _, _ = timed([sys.executable, "-m", "verify", "check", "benchmarks/zoo/zoo72.py", "--jobs", str(jobs),
                        "-q", "--json", str(out)])
    n = len(json.loads(out.read_text())["subjects"])
    print(f"3. zoo: {n} subjects in {wall:.1f} s with --jobs {jobs}: {wall / n:.2f} s per subject")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--activation", default="silu")
    p.add_argument("--skip-zoo", action="store_true")
    p.add_argument("--each", action="store_true", help="also every registered activation once (2b)")
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    gate_vs_plain(args.pairs, args.jobs)
    one_activation(args.activation, args.pairs)
    if args.each:
        each_activation()
    if not args.skip_zoo:
        zoo(args.jobs)


if __name__ == "__main__":
    main()
