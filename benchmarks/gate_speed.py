"""How long the gate takes: `python -m verify check` over the whole registry.

    python benchmarks/gate_speed.py [--jobs 1 2] [--only IDS] [--profile ci]

Prints the wall time of each run and, from its results JSON, each activation's total
and each check's median and worst time. Figures are medians of what one run measured;
this machine is shared, so compare runs made side by side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def run(jobs: int, only: str | None, profile: str) -> tuple[float, dict]:
    out = Path(tempfile.mkdtemp()) / "r.json"
    cmd = [sys.executable, "-m", "verify", "check", "--jobs", str(jobs), "--profile", profile, "--json", str(out), "-q"]
    if only:
        cmd += ["--only", only]
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, json.loads(out.read_text())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--only", default=None)
    p.add_argument("--profile", default="ci")
    args = p.parse_args()
    for jobs in args.jobs:
        wall, data = run(jobs, args.only, args.profile)
        per_subject = {s["name"]: sum(c["duration_s"] for c in s["checks"]) for s in data["subjects"]}
        per_check: dict[str, list[float]] = defaultdict(list)
        for s in data["subjects"]:
            for c in s["checks"]:
                per_check[c["id"]].append(c["duration_s"])
        worst = max(per_subject, key=per_subject.__getitem__)
        print(f"--jobs {jobs}: {len(per_subject)} activations in {wall:.1f} s wall; per activation median "
              f"{statistics.median(per_subject.values()):.2f} s, max {per_subject[worst]:.2f} s ({worst})")
        for cid, ts in per_check.items():
            print(f"    {cid:<15} median {statistics.median(ts):6.3f} s   max {max(ts):6.3f} s")


if __name__ == "__main__":
    main()
