"""How long the report takes: `report --no-bench` over the registry (checks and page),
then `report --from` on its results (the page alone), and the page's size; with
`--bench`, also the default `report` (checks, bench and page), in a fresh inductor cache
(cold), under the code of each checkout given with `--tree` (side by side with an
older commit's worktree: `git worktree add /tmp/old HEAD~1`).

    python benchmarks/report_speed.py [--from results.json] [--jobs 2] [--bench [--tree DIR ...]]

Each figure is one run's wall time in a fresh process, as a user would see it; this
machine is shared, so compare runs made side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(args: list[str], cwd: str | None = None, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "verify", "report", *args, "-q"], capture_output=True, check=False,
                   cwd=cwd, env=env)
    return time.perf_counter() - start


def load() -> str:
    """The load averages, as uptime gives them: the machine is shared."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def with_bench(trees: list[str], jobs: str, out: Path) -> None:
    """The default report, bench included, from each tree in turn, each in a fresh
    inductor cache."""
    for i, tree in enumerate(trees):
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": tempfile.mkdtemp(), "PYTHONPATH": tree}
        before = load()
        wall = timed(["--jobs", jobs, "--out", str(out / f"bench{i}")], cwd=tree, env=env)
        print(f"report (with the bench) from {tree}: {wall:.1f} s wall; load before {before}, after {load()}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--from", dest="source", help="render these results instead of running the checks first")
    p.add_argument("--jobs", default="2")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--bench", action="store_true", help="also the default report, bench included")
    p.add_argument("--tree", action="append", help="a checkout to run it from (default: this one)")
    args = p.parse_args()
    out = Path(tempfile.mkdtemp())
    if args.bench:
        with_bench(args.tree or [str(Path(__file__).resolve().parents[1])], args.jobs, out)
    source = args.source
    if source is None:
        wall = timed(["--no-bench", "--jobs", args.jobs, "--out", str(out / "run")])
        print(f"report --no-bench over the registry (--jobs {args.jobs}): {wall:.1f} s wall")
        source = str(out / "run" / "results.json")
    renders = [timed(["--from", source, "--out", str(out / "page")]) for _ in range(args.repeat)]
    page = out / "page" / "index.html"
    print(f"report --from: median {statistics.median(renders):.2f} s wall over {args.repeat} runs; "
          f"page {page.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
