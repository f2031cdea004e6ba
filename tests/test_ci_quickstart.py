"""README's quick start, pasted line by line into a fresh shell: a fresh virtual
environment, the checkout installed into it, the environment activated, then every
command the quick start and the CI section give, with their exit codes and verdicts.

Only the downloads are replaced: torch, the other dependencies and the packaging tools
are the ones this test runs with, made visible to the new environment (made without a pip
of its own, which would want to download a newer setuptools), and the checkout is
installed with ``--no-deps``. Everything else runs as written, from a copy of the
checkout."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def block(name: str) -> list[str]:
    """The commands of the ```sh block after ``<!-- readme-quickstart: NAME -->``, their
    comments cut off."""
    (text,) = re.findall(rf"<!-- readme-quickstart: {name} -->\n```sh\n(.*?)```", README, re.S)
    return [line.split("  #")[0].strip() for line in text.splitlines() if line.strip()]


def examples() -> dict[str, str]:
    return dict(re.findall(r"<!-- readme-example: (\S+) -->\n```python\n(.*?)```", README, re.S))


def copy_checkout(to: Path) -> None:
    """The checkout's files as a fresh clone (with what is not committed yet) has them;
    a virtual environment made inside the checkout (README's .tox-venv) is not one."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    environments = {cfg.parent.name for cfg in ROOT.glob("*/pyvenv.cfg")}
    for name in filter(None, listed):
        if name.split("/")[0] in environments:
            continue
        source = ROOT / name
        if source.is_file():
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, to / name)


def dependencies(to: Path) -> Path:
    """The installed dependencies (torch and the rest, pip and setuptools), linked into a
    folder of their own without this package or its editable finder."""
    import torch

    site = Path(torch.__file__).resolve().parents[1]
    to.mkdir()
    for entry in site.iterdir():
        name = entry.name.lower()
        # This package itself: an editable finder, or (in tox) its installed copy.
        if name.startswith(("activation_verify", "__editable__")) or name.endswith(".pth") or \
                name in ("verify", "acts"):
            continue
        (to / entry.name).symlink_to(entry)
    return to


def shell(cwd: Path, command: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_the_quick_start_works_pasted_into_a_fresh_shell(tmp_path: Path) -> None:
    checkout = tmp_path / "activation-verify"
    copy_checkout(checkout)
    install = block("install")
    assert install == ["python3 -m venv .venv", ".venv/bin/pip install torch==2.13.0",
                       ".venv/bin/pip install -e '.[report]'", ". .venv/bin/activate"], install
    made = shell(checkout, f"{shlex.quote(sys.executable)} -m venv --without-pip .venv")
    assert made.returncode == 0, made.stderr
    # In place of the torch download: the dependencies this test runs with.
    (site,) = (checkout / ".venv" / "lib").glob("python*/site-packages")
    (site / "verify_test_dependencies.pth").write_text(f"{dependencies(tmp_path / 'deps')}\n")
    installed = shell(checkout, install[2].replace(".venv/bin/pip install",
                                                   ".venv/bin/python -m pip install --no-deps --no-build-isolation"))
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    work = checkout / "play"
    work.mkdir()
    for name, code in examples().items():
        (work / name).write_text(code)
    activate = f". {checkout / '.venv' / 'bin' / 'activate'} && "

    def run(command: str) -> subprocess.CompletedProcess[str]:
        return shell(work, activate + command)

    where = run("command -v python && python -c 'import verify, sys; print(verify.__file__)'")
    assert where.stdout.splitlines()[0] == str(checkout / ".venv" / "bin" / "python"), where.stdout + where.stderr
    assert where.stdout.splitlines()[1].startswith(str(checkout)), where.stdout
    version = run("verify --version")
    assert version.returncode == 0 and version.stdout.strip() == "verify 0.1.0", version.stdout + version.stderr
    assert run("verify check --help").stdout.startswith("usage: verify check")

    subjects = {"my_acts.py:Swish": 1, "my_acts.py": 1, "silu torch.nn:Mish": 2}
    for command in block("check"):
        done = run(command)
        assert done.returncode == 0, command + "\n" + done.stdout + done.stderr
        if command == "python -m verify list":
            assert re.search(r"^silu\s", done.stdout, re.M), done.stdout
        else:
            target = command.removeprefix("python -m verify check ")
            assert f"PASSED: {subjects[target]} subject(s)" in done.stdout, command + "\n" + done.stdout

    tests = run("python -m pytest -q -p no:cacheprovider test_my_acts.py")
    assert tests.returncode == 0 and re.search(r"\d+ passed", tests.stdout), tests.stdout[-3000:] + tests.stderr

    said = []
    for command in block("ci"):
        done = run(command)
        assert done.returncode == 0, command + "\n" + done.stdout + done.stderr
        said.append(done.stdout.strip().splitlines()[-1])
    assert said[0].startswith("BASELINE WRITTEN: 0 failure(s) recorded in verify-baseline.json (1 subject(s)"), said
    assert said[1] == "baseline: 0 new, 0 fixed, 0 known failure(s)", said
    assert said[-1].startswith("results: 1 subject(s)"), said
    assert (work / "reports" / "index.html").is_file()
