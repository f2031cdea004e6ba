"""tox -e cuda on a machine that cannot run it says why in one line, whatever the
interpreter tox was started from lacks: torch, or a GPU."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def cuda_ready(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *flags, "-m", "verify.cuda_ready"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_tox_cuda_asks_the_interpreter_first() -> None:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    commands = [c.strip() for c in tox["testenv:cuda"]["commands"].splitlines() if c.strip()]
    assert next(c for c in commands if not c.startswith("#")) == "python -m verify.cuda_ready", commands


def test_an_interpreter_without_torch_is_told_so() -> None:
    done = cuda_ready("-S")  # no site-packages: no torch, as in a base Python that never had it
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("tox -e cuda: torch is not installed in this interpreter"), done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1


def test_a_machine_without_a_gpu_is_told_so() -> None:
    done = cuda_ready()
    if torch.cuda.is_available():
        assert done.returncode == 0 and torch.cuda.get_device_name() in done.stdout, done.stdout + done.stderr
    else:
        assert done.returncode == 1 and done.stderr.strip() == "tox -e cuda: no CUDA device is visible", done.stderr
