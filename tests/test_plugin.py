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
    assert "smallest input: [[[" in done.stdout, done.stdout
    words = shlex.split(repro.group(1))
    assert words[4] == "src/acts_lib.py:Cube", words
    again = run(tmp_path, sys.executable, *words[1:])
    assert again.returncode == 1 and "FAIL Cube [gradcheck]" in again.stdout, again.stdout + again.stderr


def plugin_args() -> list[str]:
    """How a pytest run gets the plugin: by its entry point where the package is
    installed (naming it again would register it twice), by name from the checkout."""
    from importlib import metadata

    installed = any(e.value == "verify.plugin" for e in metadata.entry_points(group="pytest11"))
    return [] if installed else ["-p", "verify.plugin"]


def test_the_plugin_imports_no_torch_until_a_test_uses_it(tmp_path: Path) -> None:
    """Loaded into every pytest run of an environment it is installed in, it must cost
    that run nothing: neither torch nor the subjects at import or start-up."""
    bare = run(tmp_path, sys.executable, "-c",
               "import sys, verify.plugin; loaded = {'torch', 'verify.subject', 'acts'} & set(sys.modules); "
               "sys.exit(f'imported at start-up: {sorted(loaded)}' if loaded else 0)")
    assert bare.returncode == 0, bare.stderr
    (tmp_path / "test_plain.py").write_text(
        "import sys\n\n\ndef test_plain():\n    assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = run(tmp_path, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin_args(),
               "--verify-profile", "quick", "test_plain.py")  # the option is the plugin's: it is loaded
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_the_checks_follow_the_profile_at_collection(tmp_path: Path) -> None:
    (tmp_path / "test_acts.py").write_text(
        "from verify.plugin import parametrize_with_checks\n\n\n"
        "@parametrize_with_checks(['relu'])\n"
        "def test_activation(subject, check):\n    check(subject)\n")
    ids = {}
    for profile in ("ci", "thorough"):
        done = run(tmp_path, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin_args(),
                   "--collect-only", "--verify-profile", profile, "test_acts.py")
        assert done.returncode == 0, done.stdout + done.stderr
        ids[profile] = set(re.findall(r"test_activation\[relu-(\w+)\]", done.stdout))
    assert "gradcheck" in ids["ci"] and "compile" not in ids["ci"], ids
    assert ids["thorough"] == ids["ci"] | {"compile"}, ids
