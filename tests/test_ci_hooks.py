"""The pre-commit hook and the composite GitHub Action, run here as the tools would run
them: the hook's entry and args on changed files, the action's shell steps with its
inputs put in (the install step left out: this environment has the package)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
GOOD = '''import torch
from torch import nn


class Swish(nn.Module):
    """x * sigmoid(beta x) with a trainable beta (Ramachandran et al. 2017)."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.tensor(beta))

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)
'''
BAD = (ROOT / "tests" / "fixtures" / "wrong_cube.py").read_text()

pytestmark = pytest.mark.slow


def env() -> dict[str, str]:
    # The checkout first, as an installed package would be.
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def hook_command(files: list[str]) -> list[str]:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["language"] == "system" and hook["pass_filenames"]
    entry = shlex.split(hook["entry"])
    assert entry[0] == "python"
    return [sys.executable, *entry[1:], *hook.get("args", []), *files]


def test_the_pre_commit_hook_passes_a_good_file_and_fails_a_bad_one(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "bad.py").write_text(BAD)
    ok = subprocess.run(hook_command(["good.py"]), cwd=tmp_path, env=env(), capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run(hook_command(["good.py", "bad.py"]), cwd=tmp_path, env=env(), capture_output=True,
                         text=True)
    assert bad.returncode == 1 and "bad.py:Cube" in bad.stdout and "[gradcheck]" in bad.stdout, bad.stdout


def action_steps(inputs: dict[str, str]) -> list[str]:
    """The action's run scripts, in order, with ``${{ inputs.X }}`` and
    ``${{ github.action_path }}`` put in and steps whose ``if`` is false left out."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    values = {name: inputs.get(name, spec.get("default", "")) for name, spec in action["inputs"].items()}
    scripts = []
    for step in action["runs"]["steps"]:
        cond = step.get("if")
        if cond is not None:
            m = re.fullmatch(r"inputs\.(\w+) == '([^']*)'", cond.strip())
            assert m, f"a condition this test cannot read: {cond}"
            if values[m.group(1)] != m.group(2):
                continue
        script = step["run"].replace("${{ github.action_path }}", str(ROOT))
        script = re.sub(r"\$\{\{ inputs\.(\w+) \}\}", lambda m: values[m.group(1)], script)
        assert "${{" not in script, script
        scripts.append(script)
    return scripts


def run_action(repo: Path, inputs: dict[str, str]) -> subprocess.CompletedProcess[str]:
    scripts = action_steps({"install": "false", **inputs})
    temp = repo.parent / "runner-temp"
    temp.mkdir(exist_ok=True)
    out = subprocess.CompletedProcess([], 0, "", "")
    # The action calls `python`: this environment's, first on the PATH as on a runner.
    shim = Path(sys.executable).parent
    assert (shim / "python").exists()
    printed = ""
    for script in scripts:
        out = subprocess.run(["bash", "-e", "-c", script], cwd=repo, capture_output=True, text=True,
                             env={**env(), "RUNNER_TEMP": str(temp), "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"})
        printed += out.stdout
        if out.returncode:
            break
    return subprocess.CompletedProcess(out.args, out.returncode, printed, out.stderr)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_action_checks_only_the_changed_activation_files(tmp_path: Path) -> None:
    repo = tmp_path / "project"
    (repo / "acts").mkdir(parents=True)
    (repo / "acts" / "good.py").write_text(GOOD)
    (repo / "README.md").write_text("a project\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "tag", "base")

    nothing = run_action(repo, {"paths": "acts/*.py", "base": "base"})
    assert nothing.returncode == 0 and "nothing to check" in nothing.stdout, nothing.stdout + nothing.stderr

    (repo / "acts" / "bad.py").write_text(BAD)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "a new activation")
    out = run_action(repo, {"paths": "acts/*.py", "base": "base"})
    assert out.returncode == 1, out.stdout + out.stderr
    listed = out.stdout.split("files to check:")[1].split("subject")[0]
    assert "acts/bad.py" in listed and "acts/good.py" not in listed, out.stdout
    assert "::error file=acts/bad.py,line=" in out.stdout, out.stdout
