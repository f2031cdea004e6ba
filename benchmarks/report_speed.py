"""How long the report takes: `report --no-bench` over the registry (checks and page),
then `report --from` on its results (the page alone), and the page's size.

    python benchmarks/report_speed.py [--from results.json] [--jobs 2]

Each figure is one run's wall time in a fresh process, as a user would see it; this
machine is shared, so compare runs made side by side.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "verify", "report", *args, "-q"], capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--from", dest="source", help="render these results instead of running the checks first")
    p.add_argument("--jobs", default="2")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    out = Path(tempfile.mkdtemp())
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
