"""docs/ci.md's pipeline, its commands run end to end as a CI machine would run them
(not the YAML runner): a baseline written and committed, a pull request that adds a bad
activation, four shard jobs of which one fails with an annotation at the class, and the
report job that merges and renders the shards' results and exits 0 so the page exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "ci.md").read_text()
# Small and quick: the commands as the document gives them, on fewer checks.
FAST = "--profile quick --only gradcheck,special_values --jobs 1"

ACTS = '''import torch
from torch import nn


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class SafeLeaky(nn.Module):
    """Replaces NaN with 0: it hides an upstream fault (special_values)."""

    def forward(self, x):
        return torch.nan_to_num(torch.where(x > 0, x, 0.01 * x), nan=0.0)
'''

REGRESSION = '''

class Cube(nn.Module):
    def forward(self, x):
        return CubeFn.apply(x)


class CubeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x  # x, not x**2
'''


def workflow() -> str:
    (yaml,) = re.findall(r"```yaml\n(.*?)```", DOC, re.S)
    return yaml


def job(name: str) -> list[str]:
    """The ``run:`` commands of one job, a folded (``>``) command joined into one line."""
    text = workflow().split(f"\n  {name}:\n", 1)[1]
    text = re.split(r"\n  \w+:\n", text, maxsplit=1)[0]
    commands = []
    for m in re.finditer(r"- run: (>\n((?: {10}.*\n)+)|.*)", text):
        commands.append(" ".join(m.group(2).split()) if m.group(2) else m.group(1).strip())
    return commands


def shell(cwd: Path, command: str) -> subprocess.CompletedProcess[str]:
    """``command`` in bash, with ``python`` the interpreter running these tests."""
    bin_dir = cwd / ".bin"
    bin_dir.mkdir(exist_ok=True)
    python = bin_dir / "python"
    if not python.exists():  # a script, not a link: a virtual environment's python is found by its own path
        python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        python.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def verify_command(command: str) -> str:
    return command + (f" {FAST}" if command.startswith("python -m verify check") else "")


def test_the_workflow_installs_the_package_from_its_repository() -> None:
    """Not from PyPI, where it is not published: pip would say "No matching distribution"."""
    (source,) = re.findall(r'VERIFY: "(.*)"', workflow())
    assert source.startswith("activation-verify[report] @ git+https://"), source
    for name in ("gate", "report"):
        installs = [c for c in job(name) if c.startswith("pip install")]
        assert installs[-1] == 'pip install "$VERIFY"', installs


@pytest.mark.slow
def test_the_documented_pipeline_runs_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "acts.py").write_text(ACTS)
    once = [c for c in re.findall(r"```sh\n(.*?)```", DOC, re.S)[0].splitlines() if c.startswith("python")]
    assert once == ["python -m verify check src/acts.py --write-baseline verify-baseline.json"], once
    written = shell(tmp_path, verify_command(once[0]))
    assert written.returncode == 0, written.stdout + written.stderr
    assert "BASELINE WRITTEN: 1 failure(s) recorded in verify-baseline.json" in written.stdout

    # A pull request adds a Function with a wrong backward and the module that calls it: the
    # shards that hold them fail, each with an annotation at the class.
    (tmp_path / "src" / "acts.py").write_text(ACTS + REGRESSION)
    source = (ACTS + REGRESSION).splitlines()
    lines = [source.index(f"class {name}") + 1 for name in ("Cube(nn.Module):", "CubeFn(torch.autograd.Function):")]
    gate = [c for c in job("gate") if c.startswith("python")]
    assert len(gate) == 1 and "--baseline verify-baseline.json --format github" in gate[0], gate
    codes, annotations = [], []
    for shard in (1, 2, 3, 4):
        done = shell(tmp_path, verify_command(gate[0].replace("${{ matrix.shard }}", str(shard))))
        codes.append(done.returncode)
        annotations += [a for a in done.stdout.splitlines() if a.startswith("::error")]
        assert done.returncode in (0, 1), done.stdout + done.stderr
        assert (tmp_path / f"results-{shard}.json").is_file() and (tmp_path / f"junit-{shard}.xml").is_file()
    assert sorted(codes) == [0, 0, 1, 1], codes
    assert sorted(a.partition(",title=")[0] for a in annotations) == [
        f"::error file=src/acts.py,line={n}" for n in sorted(lines)], annotations

    # The report job: every command exits 0, failures and all, and the page is there.
    report = [c for c in job("report") if c.startswith("python")]
    assert report == ["python -m verify merge results-*.json -o all.json",
                      "python -m verify report --from all.json --out report"], report
    for command in report:
        done = shell(tmp_path, command)
        assert done.returncode == 0, command + "\n" + done.stdout + done.stderr
    assert (tmp_path / "report" / "index.html").is_file()
    gated = shell(tmp_path, "python -m verify merge results-*.json -o all.json --gate")
    assert gated.returncode == 1 and "FAILED: 4 subject(s)" in gated.stdout, gated.stdout + gated.stderr
