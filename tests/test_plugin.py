"""The pytest front end, used as a project would: a test file in its own tests folder,
run by pytest from the project's root. A failure's repro line resolves from there and,
run as printed, fails again."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ACTS = (Path(__file__).parent / "fixtures" / "wrong_cube.py").read_text()

TEST = '''from verify.plugin import parametrize_with_checks

from acts_lib import Cube


@parametrize_with_checks([Cube], only=["gradcheck", "special_values"])
def test_activation(subject, check):
    check(subject)
'''


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(cwd / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_a_failures_repro_runs_from_where_pytest_runs(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "acts_lib.py").write_text(ACTS)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_acts.py").write_text(TEST)
    done = run(tmp_path, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
               "--verify-profile", "quick")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout, done.stdout
    repro = re.search(r"reproduce: (python -m verify check .*)", done.stdout)
    assert repro is not None, done.stdout
    words = shlex.split(repro.group(1))
    assert words[4] == "src/acts_lib.py:Cube", words
    again = run(tmp_path, sys.executable, *words[1:])
    assert again.returncode == 1 and "FAIL Cube [gradcheck]" in again.stdout, again.stdout + again.stderr
