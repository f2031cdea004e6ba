"""A zoo in CI, end to end through the command line: a whole-file target, a baseline
written and then gated against (a new bad activation fails the gate alone, a fixed one
is reported), and shards that cover every subject once and merge to the unsharded run."""

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
    recorded = json.loads((tmp_path / "baseline.json").read_text())["failures"]
    assert {(e["target"], e["check"]) for e in recorded} == {("zoo.py:SafeLeaky", "special_values"),
                                                              ("zoo.py:WrongGradFn", "gradcheck")}
    assert {t for t, _ in verdicts(tmp_path / "all.json")} == {f"zoo.py:{n}" for n in
                                                               ("Swish", "SafeLeaky", "WrongGradFn", "Softsign")}

    same = cli(tmp_path, "check", "zoo.py", *FAST, "--baseline", "baseline.json")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "baseline: 0 new, 0 fixed, 2 known failure(s)" in same.stdout

    (tmp_path / "zoo.py").write_text(ZOO + NEW_BAD)
    new = cli(tmp_path, "check", "zoo.py", *FAST, "--baseline", "baseline.json", "--format", "github")
    assert new.returncode == 1, new.stdout + new.stderr
    flagged = [line for line in new.stdout.splitlines() if line.startswith("new failure")]
    assert [line.split(":")[1].split(" ")[0] for line in flagged] == ["Cube", "CubeFn"], flagged
    annotations = [line for line in new.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 2 and all("file=zoo.py" in a and "Cube" in a for a in annotations), annotations

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
    merged = cli(tmp_path, "merge", "part1.json", "part2.json", "-o", "merged.json")
    assert merged.returncode == 1, merged.stdout + merged.stderr  # failures inside: the merge says so
    assert verdicts(tmp_path / "merged.json") == verdicts(tmp_path / "whole.json")
    report = cli(tmp_path, "report", "--from", "part1.json", "part2.json", "--out", "page")
    assert report.returncode == 1 and (tmp_path / "page" / "index.html").is_file()
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
