"""A zoo in CI, end to end through the command line: a whole-file target, a baseline
written and then gated against (a new bad activation fails the gate alone, a fixed one
is reported), and shards that cover every subject once and merge to the unsharded run.
Every exit code is one a pipeline can use: a verdict that exits 0 never says FAILED, and
merge and report --from exit 0 once they have done their job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST = ("--only", "gradcheck,special_values", "--profile", "quick", "--jobs", "2")

ZOO = '''
import torch
from torch import nn


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class SafeLeaky(nn.Module):
    """A leaky ReLU that 'cleans' NaN: it hides upstream faults (special_values)."""

    def forward(self, x):
        return torch.nan_to_num(torch.where(x > 0, x, 0.01 * x), nan=0.0)


class WrongGradFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x  # the factor 2 is missing (gradcheck)


class Softsign(nn.Module):
    def forward(self, x):
        return torch.where(x.isinf(), x.sign(), x / (1 + x.abs()))
'''

NEW_BAD = "\n\n" + (Path(__file__).parent / "fixtures" / "wrong_cube.py").read_text()


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "verify", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def verdicts(path: Path) -> dict[tuple[str, str], str]:
    return {(s["target"], c["id"]): c["status"] for s in json.loads(path.read_text())["subjects"] for c in s["checks"]}


def test_a_baseline_gates_only_what_is_new(tmp_path: Path) -> None:
    (tmp_path / "zoo.py").write_text(ZOO)
    first = cli(tmp_path, "check", "zoo.py", *FAST, "--write-baseline", "baseline.json", "--json", "all.json")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "BASELINE WRITTEN: 2 failure(s) recorded in baseline.json" in first.stdout and "FAILED" not in first.stdout
    recorded = json.loads((tmp_path / "baseline.json").read_text())["failures"]
    assert {(e["target"], e["check"]) for e in recorded} == {("zoo.py:SafeLeaky", "special_values"),
                                                              ("zoo.py:WrongGradFn", "gradcheck")}
    assert {t for t, _ in verdicts(tmp_path / "all.json")} == {f"zoo.py:{n}" for n in
                                                               ("Swish", "SafeLeaky", "WrongGradFn", "Softsign")}

    same = cli(tmp_path, "check", "zoo.py", *FAST, "--baseline", "baseline.json")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "baseline: 0 new, 0 fixed, 2 known failure(s)" in same.stdout
    assert "PASSED against the baseline: 2 known failure(s) accepted" in same.stdout and "FAILED" not in same.stdout

    (tmp_path / "zoo.py").write_text(ZOO + NEW_BAD)
    new = cli(tmp_path, "check", "zoo.py", *FAST, "--baseline", "baseline.json", "--format", "github")
    assert new.returncode == 1, new.stdout + new.stderr
    flagged = [line for line in new.stdout.splitlines() if line.startswith("new failure")]
    assert [line.split(":")[1].split(" ")[0] for line in flagged] == ["Cube", "CubeFn"], flagged
    assert "FAILED against the baseline: 2 new failure(s)" in new.stdout
    annotations = [line for line in new.stdout.splitlines() if line.startswith("::error")]
    source = (ZOO + NEW_BAD).splitlines()
    lines = [source.index(f"class {name}(" + base) + 1 for name, base in
             [("Cube", "nn.Module):"), ("CubeFn", "torch.autograd.Function):")]]
    assert sorted(a.partition(",title=")[0] for a in annotations) == sorted(
        f"::error file=zoo.py,line={n}" for n in lines), annotations

    fixed = ZOO.replace("return grad * x  # the factor 2 is missing (gradcheck)", "return 2 * grad * x")
    (tmp_path / "zoo.py").write_text(fixed)
    better = cli(tmp_path, "check", "zoo.py", *FAST, "--baseline", "baseline.json")
    assert better.returncode == 0, better.stdout + better.stderr
    assert "fixed zoo.py:WrongGradFn [gradcheck]" in better.stdout


def test_shards_cover_every_subject_once_and_merge_to_the_whole(tmp_path: Path) -> None:
    (tmp_path / "zoo.py").write_text(ZOO + NEW_BAD)
    whole = cli(tmp_path, "check", "zoo.py", *FAST, "--json", "whole.json")
    parts = [cli(tmp_path, "check", "zoo.py", *FAST, "--shard", f"{k}/2", "--json", f"part{k}.json") for k in (1, 2)]
    assert whole.returncode == 1 and all(p.returncode == 1 for p in parts)
    one, two = verdicts(tmp_path / "part1.json"), verdicts(tmp_path / "part2.json")
    assert not {t for t, _ in one} & {t for t, _ in two}
    # Failures inside, and still exit 0: the merge is done, and the report can follow it.
    merged = cli(tmp_path, "merge", "part1.json", "part2.json", "-o", "merged.json")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "merged 2 result file(s), 6 subject(s), into merged.json" in merged.stdout
    assert "results: 6 subject(s)" in merged.stdout and "FAILED" not in merged.stdout
    assert verdicts(tmp_path / "merged.json") == verdicts(tmp_path / "whole.json")
    gated = cli(tmp_path, "merge", "part1.json", "part2.json", "-o", "gated.json", "--gate")
    assert gated.returncode == 1 and "FAILED: 6 subject(s)" in gated.stdout, gated.stdout + gated.stderr
    report = cli(tmp_path, "report", "--from", "merged.json", "--out", "page")
    assert report.returncode == 0 and (tmp_path / "page" / "index.html").is_file(), report.stdout + report.stderr
    report = cli(tmp_path, "report", "--from", "part1.json", "part2.json", "--out", "page2")
    assert report.returncode == 0 and (tmp_path / "page2" / "index.html").is_file(), report.stdout + report.stderr
    overlap = cli(tmp_path, "merge", "part1.json", "part1.json", "-o", "twice.json")
    assert overlap.returncode == 2 and "overlap" in overlap.stderr


def test_a_whole_file_that_exits_on_import_is_never_green(tmp_path: Path) -> None:
    """Discovery imports the file in a worker: its sys.exit(0) cannot end the gate."""
    (tmp_path / "quits.py").write_text("import sys\nsys.exit(0)\n")
    r = cli(tmp_path, "check", "quits.py", *FAST)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "loading quits.py raised SystemExit" in r.stderr and "Traceback" not in r.stderr


def test_a_typo_gets_a_suggestion(tmp_path: Path) -> None:
    r = cli(tmp_path, "check", "sllu")
    assert r.returncode == 2 and "did you mean 'silu'" in r.stderr


def test_one_subjects_checks_shared_among_workers_come_back_whole_and_in_order(tmp_path: Path) -> None:
    only = ("--only", "gradcheck,forward_ad,special_values,kinks,saturation", "--profile", "quick")
    runs = {jobs: cli(tmp_path, "check", "relu", *only, "--jobs", jobs, "--json", f"r{jobs}.json") for jobs in "12"}
    assert all(r.returncode == 0 for r in runs.values()), [r.stdout + r.stderr for r in runs.values()]
    one, two = (json.loads((tmp_path / f"r{j}.json").read_text())["subjects"] for j in "12")
    assert [c["id"] for c in two[0]["checks"]] == ["gradcheck", "forward_ad", "special_values", "kinks", "saturation"]
    assert [(c["id"], c["status"]) for c in two[0]["checks"]] == [(c["id"], c["status"]) for c in one[0]["checks"]]
    assert "curve" in two[0]["info"]


LIB = """import torch
from torch import nn


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class LeakyNaN(nn.Module):
    def forward(self, x):
        return torch.nan_to_num(torch.where(x > 0, x, 0.01 * x), nan=0.0)
"""


def test_a_file_that_only_imports_its_activations_says_so_at_once(tmp_path: Path) -> None:
    """Read, not run: the library it imports raises on import, and the answer comes first."""
    (tmp_path / "heavy_lib.py").write_text("raise RuntimeError('the import was run')\n")
    (tmp_path / "uses.py").write_text('"""The model\'s activations."""\nfrom heavy_lib import Swish, LeakyNaN\n')
    r = cli(tmp_path, "check", "uses.py", *FAST)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip() == ("verify: error: uses.py defines no activation of its own; it imports: Swish, "
                                "LeakyNaN; pass --imported to check them"), r.stderr


def test_imported_checks_what_a_file_imports(tmp_path: Path) -> None:
    (tmp_path / "act_lib.py").write_text(LIB)
    (tmp_path / "uses.py").write_text("from act_lib import Swish, LeakyNaN\n")
    # A file that defines something (a helper) is imported to find out what it holds.
    (tmp_path / "mixed.py").write_text("from act_lib import Swish\n\n\ndef scale(x):\n    return 2 * x\n")
    mixed = cli(tmp_path, "check", "mixed.py", *FAST)
    assert mixed.returncode == 2 and "mixed.py defines no activation of its own; it imports: Swish; pass " \
        "--imported" in mixed.stderr, mixed.stdout + mixed.stderr
    r = cli(tmp_path, "check", "uses.py", "--imported", *FAST, "--json", "r.json")
    assert r.returncode == 1, r.stdout + r.stderr  # LeakyNaN hides a NaN
    assert verdicts(tmp_path / "r.json") == {("uses.py:Swish", "gradcheck"): "pass",
                                             ("uses.py:Swish", "special_values"): "pass",
                                             ("uses.py:LeakyNaN", "gradcheck"): "pass",
                                             ("uses.py:LeakyNaN", "special_values"): "fail"}
