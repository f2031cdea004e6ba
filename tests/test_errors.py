"""An error a user can act on: the exception's type and message and where in the
subject's own code it was raised, in the summary, the JSON and the JUnit XML; never a
property test's example in place of the traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SUBJECT = '''import torch
from torch import nn


def _scale(x):
    return x * torch.ones(3)  # only a length-3 input broadcasts


class Broken(nn.Module):
    def forward(self, x):
        return torch.tanh(_scale(x))
'''


def test_an_error_names_the_subjects_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "acts_broken.py").write_text(SUBJECT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "verify", "check", "acts_broken.py:Broken", "--only", "gradcheck,stability",
                        "--profile", "quick", "--json", "r.json", "--junit", "r.xml"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    checks = json.loads((tmp_path / "r.json").read_text())["subjects"][0]["checks"]
    # It runs on a plain input of its layout and raises on a check's: its fault, a failure.
    raised = [c for c in checks if c["status"] == "fail" and "where" in c["details"]]
    assert raised, checks
    for c in raised:
        assert c["details"]["where"] == "acts_broken.py:6 in _scale", c
        assert "RuntimeError: " in c["summary"] and c["summary"].endswith("(at acts_broken.py:6 in _scale)")
        trace = c["details"]["traceback"]
        assert "acts_broken.py:11 in forward" in trace and "return x * torch.ones(3)" in trace
        assert "Falsifying" not in trace and "verify/" not in trace
    assert "(at acts_broken.py:6 in _scale)" in r.stdout
    junit = ET.parse(tmp_path / "r.xml").getroot()
    assert "acts_broken.py:6 in _scale" in ET.tostring(junit, encoding="unicode")
