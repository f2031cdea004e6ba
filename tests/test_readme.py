"""The README's examples run as written: its module, its pytest file and its `acts`
spec are extracted verbatim and run from a folder of their own, as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def examples() -> dict[str, str]:
    """Each ```python block that follows a `<!-- readme-example: NAME -->` marker."""
    found = re.findall(r"<!-- readme-example: (\S+) -->\n```python\n(.*?)```", README, re.S)
    return dict(found)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("readme")
    for name, code in examples().items():
        (where / name).write_text(code)
    return where


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def test_the_readme_has_its_four_examples() -> None:
    assert set(examples()) == {"my_acts.py", "test_my_acts.py", "acts_example.py", "fused.py"}


def test_the_cli_example_passes(folder: Path) -> None:
    done = run(folder, "-m", "verify", "check", "my_acts.py:Swish", "--profile", "quick")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED: 1 subject(s)" in done.stdout


def test_the_whole_file_example_checks_what_the_file_defines(folder: Path) -> None:
    done = run(folder, "-m", "verify", "check", "my_acts.py", "--profile", "quick", "--only", "gradcheck")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED: 1 subject(s)" in done.stdout


def test_the_pytest_example_passes(folder: Path) -> None:
    done = run(folder, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_acts.py", "--verify-profile", "quick")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", done.stdout) and "Swish-gradcheck" not in done.stdout  # nothing failed


def test_the_fused_example_matches_its_eager_reference(folder: Path) -> None:
    done = run(folder, "-m", "verify", "check", "fused.py:FusedSiLU", "--reference", "torch.nn:SiLU", "--only",
               "matches", "--profile", "quick")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED: 1 subject(s), 1 passed" in done.stdout


def test_the_acts_example_is_a_spec_that_passes_the_gate(folder: Path) -> None:
    done = run(folder, "-m", "verify", "check", "acts_example.py:SPEC", "--profile", "quick")
    assert done.returncode == 0, done.stdout + done.stderr
