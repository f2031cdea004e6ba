"""How long the gate takes on the activation zoo, from a cold process, and what it finds.

    python benchmarks/zoo_speed.py [--jobs 2] [--profile ci] [--file benchmarks/zoo/zoo72.py]

Runs ``python -m verify check <file> --jobs N --profile P --json <tmp>`` as a
subprocess and prints its wall time, the number of subjects and their verdicts, each
check's median and worst duration, the five slowest subjects, and which subjects
failed which checks. When the file defines ``DEFECTS = {"Name": "check_id", ...}``
(the known defects and the check that should catch each), the failures are scored
against it: hits (the owning check failed), misses (it did not), and false alarms
(a failure on a subject with no known defect).

If the command line does not take a whole file as a target yet, the file is expanded
here with ``verify.discover`` and its targets are passed explicitly.
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAILING = ("fail", "error")


def run_gate(targets: list[str], jobs: int, profile: str, out: Path) -> tuple[float, subprocess.CompletedProcess]:
    cmd = [sys.executable, "-m", "verify", "check", *targets, "--jobs", str(jobs), "--profile", profile,
           "--json", str(out), "-q"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    return time.perf_counter() - start, proc


def expand(path: str) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from verify.discover import discover

    found = discover(path)
    for name, reason in found.skipped:
        print(f"  not checked: {name}: {reason}")
    return list(found.targets)


def read_defects(path: str) -> dict[str, str] | None:
    """DEFECTS from the file, read without importing it."""
    tree = ast.parse(Path(path).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "DEFECTS" for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def short(subject: dict) -> str:
    return subject["target"].rsplit(":", 1)[-1] if ":" in subject["target"] else subject["name"]


def verdict(subject: dict) -> str:
    statuses = {c["status"] for c in subject["checks"]}
    if "error" in statuses:
        return "error"
    if "fail" in statuses:
        return "fail"
    return "pass"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--profile", default="ci")
    p.add_argument("--file", default="benchmarks/zoo/zoo72.py")
    args = p.parse_args()

    out = Path(tempfile.mkdtemp()) / "results.json"
    cmd = f"python -m verify check {args.file} --jobs {args.jobs} --profile {args.profile} --json {out}"
    wall, proc = run_gate([args.file], args.jobs, args.profile, out)
    if proc.returncode == 2 or not out.exists():
        print(f"whole-file target not taken (exit {proc.returncode}: "
              f"{(proc.stderr.strip().splitlines() or [''])[-1][:200]}); expanding the file here")
        start = time.perf_counter()
        targets = expand(args.file)
        expand_s = time.perf_counter() - start
        cmd = f"python -m verify check <{len(targets)} targets of {args.file}> --jobs {args.jobs} --profile {args.profile} --json {out}"
        wall, proc = run_gate(targets, args.jobs, args.profile, out)
        print(f"expansion took {expand_s:.1f} s (not counted below)")
    if not out.exists():
        print(f"no results: exit {proc.returncode}\n{proc.stderr[-2000:]}")
        return 1
    data = json.loads(out.read_text())
    subjects = data["subjects"]

    print(f"$ {cmd}")
    print(f"exit {proc.returncode}; {wall:.1f} s wall; {len(subjects)} subjects")
    verdicts = Counter(verdict(s) for s in subjects)
    print("verdicts: " + ", ".join(f"{k} {verdicts[k]}" for k in ("pass", "fail", "error") if verdicts[k]))

    per_check: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter] = defaultdict(Counter)
    for s in subjects:
        for c in s["checks"]:
            per_check[c["id"]].append(c["duration_s"])
            statuses[c["id"]][c["status"]] += 1
    print("\nper check (seconds per subject):")
    print(f"    {'check':<15} {'median':>7} {'max':>7}   statuses")
    for cid, ts in sorted(per_check.items(), key=lambda kv: -statistics.median(kv[1])):
        st = ", ".join(f"{k} {v}" for k, v in sorted(statuses[cid].items()))
        print(f"    {cid:<15} {statistics.median(ts):7.3f} {max(ts):7.3f}   {st}")

    totals = {short(s): sum(c["duration_s"] for c in s["checks"]) for s in subjects}
    print("\nslowest subjects (sum of check durations):")
    for name in sorted(totals, key=totals.__getitem__, reverse=True)[:5]:
        print(f"    {name:<20} {totals[name]:6.2f} s")
    print(f"    median {statistics.median(totals.values()):.2f} s per subject")

    failed = {short(s): [c["id"] for c in s["checks"] if c["status"] in FAILING] for s in subjects}
    failed = {k: v for k, v in failed.items() if v}
    print("\nfailures:")
    for name, ids in failed.items():
        s = next(s for s in subjects if short(s) == name)
        print(f"    {name:<20} {', '.join(ids)}")
        for c in s["checks"]:
            if c["status"] in FAILING:
                print(f"        {c['id']} ({c['status']}): {c['summary'][:160]}")

    defects = read_defects(args.file)
    if defects is None:
        return proc.returncode
    seen = {short(s) for s in subjects}
    hits = [n for n, cid in defects.items() if cid in failed.get(n, [])]
    misses = [n for n, cid in defects.items() if n in seen and cid not in failed.get(n, [])]
    absent = [n for n in defects if n not in seen]
    false_alarms = [n for n in failed if n not in defects]
    extra = {n: [c for c in ids if c != defects[n]] for n, ids in failed.items() if n in defects}
    extra = {n: ids for n, ids in extra.items() if ids}
    print(f"\nagainst DEFECTS ({len(defects)} subjects with a known defect):")
    print(f"    hits {len(hits)}: " + ", ".join(f"{n} ({defects[n]})" for n in hits))
    print(f"    misses {len(misses)}: " + ", ".join(
        f"{n} ({defects[n]}; failed: {', '.join(failed.get(n, [])) or 'nothing'})" for n in misses))
    if absent:
        print(f"    not among the subjects {len(absent)}: " + ", ".join(absent))
    print(f"    false alarms {len(false_alarms)}: " + ", ".join(f"{n} ({', '.join(failed[n])})" for n in false_alarms))
    by_check = Counter(c for n in false_alarms for c in failed[n])
    print("    false alarms by check: " + (", ".join(f"{c} {k}" for c, k in by_check.most_common()) or "none"))
    print("    other checks failing on defective subjects: "
          + (", ".join(f"{n} ({', '.join(ids)})" for n, ids in extra.items()) or "none"))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
