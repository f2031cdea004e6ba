"""The CLI contract (docs/design.md, "Contracts"): exit codes, one-line errors, JSON and JUnit output."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

import verify
from verify.cli import _Help, bench_config, build_parser, main


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "verify", *args], capture_output=True, text=True, timeout=300)


def test_list_json_lists_every_activation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = {d["name"] for d in data}
    assert {"silu", "soft_exponential", "bipolar_relu"} <= names
    assert all({"kind", "params", "kinks", "inplace", "builtin"} <= set(d) for d in data)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "no_such_activation_xyz"], "unknown activation"),
        (["check", "does/not/exist.py:Act"], "no such file"),
        (["check", "--only", "no_such_check", "torch.nn:Tanh"], "unknown check id"),
        (["check", "torch.nn:NoSuchThing"], "has no attribute"),
        (["check", "no_such_pkg_xyz.mod:Act"], "cannot import"),
        (["check", "torch.nn:ELU", "--init", "{bad json"], "not valid JSON"),
        (["check", "torch.nn:Linear"], "cannot build"),
        (["check", "--jobs", "0", "silu"], "--jobs"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1, err


def test_passing_target_exits_0_and_writes_json_and_junit(tmp_path: Path) -> None:
    out, junit = tmp_path / "r.json", tmp_path / "j.xml"
    r = cli("check", "torch.nn:Tanh", "--only", "gradcheck,reference", "--profile", "quick",
            "--json", str(out), "--junit", str(junit))
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(out.read_text())
    assert data["schema_version"] == 1 and {"torch_version", "device", "threads"} <= set(data["environment"])
    (subject,) = data["subjects"]
    assert [c["id"] for c in subject["checks"]] == ["gradcheck", "reference"]
    assert {c["status"] for c in subject["checks"]} <= {"pass", "skip"}
    assert ET.parse(junit).getroot().tag == "testsuites"


def test_failing_file_target_exits_1_and_keeps_the_others(tmp_path: Path) -> None:
    src = tmp_path / "zoo.py"
    src.write_text(textwrap.dedent('''
        import torch

        class BadTanh(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                y = torch.tanh(x)
                ctx.save_for_backward(y)
                return y

            @staticmethod
            def backward(ctx, g):
                (y,) = ctx.saved_tensors
                return g * (1 - y)

        def exploding(x):
            raise RuntimeError("this activation always raises")
    '''))
    out = tmp_path / "r.json"
    r = cli("check", f"{src}:BadTanh", f"{src}:exploding", "silu", "--only", "gradcheck", "--profile", "quick",
            "--jobs", "2", "--json", str(out))
    assert r.returncode == 1, r.stdout + r.stderr
    statuses = {s["name"]: s["checks"][0]["status"] for s in json.loads(out.read_text())["subjects"]}
    assert statuses == {"BadTanh": "fail", "exploding": "error", "silu": "pass"}
    assert "reproduce: python -m verify check" in r.stdout
    assert "smallest input: [" in r.stdout, r.stdout


ZOO = '''
import time
import torch
from torch import nn


class WhereSoftplus(nn.Module):
    """The most common defect in the wild: torch.where over a branch that overflows.
    The forward is finite; the gradient is NaN from x ~ 89 in float32."""

    def forward(self, x):
        return torch.where(x < 20, torch.log1p(torch.exp(x)), x)


class Stochastic(nn.RReLU):
    """Random in training mode, a fixed slope in eval mode."""


class ImageOnly(nn.Module):
    """Accepts only 4-d input (N, C, H, W)."""

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError("expected 4-d input")
        return torch.tanh(x)


class ReturnsTuple(nn.Module):
    def forward(self, x):
        return x, x


class Hangs(nn.Module):
    def forward(self, x):
        time.sleep(60)
        return x
'''


def test_a_zoo_is_judged_subject_by_subject(tmp_path: Path) -> None:
    """Odd subjects in one run: each gets its own verdict from the check that owns its
    defect; a hang is cut off; nothing is lost."""
    zoo = tmp_path / "zoo.py"
    zoo.write_text(ZOO)
    out = tmp_path / "r.json"
    names = ["WhereSoftplus", "Stochastic", "ImageOnly", "ReturnsTuple", "Hangs"]
    r = cli("check", *[f"{zoo}:{n}" for n in names], "--only", "gradcheck,stability,determinism",
            "--profile", "quick", "--timeout", "10", "--jobs", "2", "--json", str(out))
    assert r.returncode == 1, r.stdout + r.stderr
    by = {s["name"]: {c["id"]: c for c in s["checks"]} for s in json.loads(out.read_text())["subjects"]}
    assert list(by) == names
    assert by["WhereSoftplus"]["stability"]["status"] == "fail", by["WhereSoftplus"]
    assert "gradient" in by["WhereSoftplus"]["stability"]["summary"]
    assert by["WhereSoftplus"]["gradcheck"]["status"] == "pass"
    assert {c["status"] for c in by["Stochastic"].values()} == {"pass"}
    assert {c["status"] for c in by["ImageOnly"].values()} <= {"pass", "skip"}
    assert {c["status"] for c in by["ReturnsTuple"].values()} == {"error"}
    assert by["Hangs"]["gradcheck"]["status"] == "error" and "limit" in by["Hangs"]["gradcheck"]["summary"]


# -- help, names and versions -------------------------------------------------------
def _options(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    """(command, option) for every option of every command that a user can see."""
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [(name, a) for name, sub in subs.choices.items() for a in sub._actions
            if a.option_strings and a.help is not argparse.SUPPRESS]


def test_every_option_has_help_and_says_its_default() -> None:
    """A flag that is off or an option left unset has no default worth a word; every other
    option's help, as printed, gives its default."""
    parser = build_parser()
    for command, action in _options(parser):
        if isinstance(action, (argparse._HelpAction, argparse._StoreTrueAction)):
            assert action.help or isinstance(action, argparse._HelpAction), (command, action.option_strings)
            continue
        assert action.help, (command, action.option_strings)
        if action.default in (None, False, []):
            continue
        shown = _Help(command)._get_help_string(action)
        assert "default" in shown, (command, action.option_strings, shown)
    check = " ".join(cli("check", "--help").stdout.split())
    assert "thorough adds the compile check) (default: ci)" in check and "(default: cpu)" in check, check


def test_one_spelling_per_option_and_the_old_one_still_works() -> None:
    parser = build_parser()
    shown = {flag for _, action in _options(parser) if action.dest in ("dtype", "dtypes") for flag in action.option_strings}
    assert shown == {"--dtype"}  # check, report and bench alike
    assert "--dtypes" not in cli("bench", "--help").stdout
    for flag in ("--dtype", "--dtypes"):
        args = parser.parse_args(["bench", "silu", flag, "float32,float16"])
        assert args.dtypes == ["float32", "float16"]
        assert bench_config(args, "cpu").dtypes == (torch.float32, torch.float16)


def test_version_comes_from_the_installed_package() -> None:
    from importlib import metadata

    try:
        expected = metadata.version("activation-verify")
    except metadata.PackageNotFoundError:
        expected = verify.__version__
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"python -m verify {expected}", r.stdout + r.stderr


def test_the_help_names_the_program_as_it_was_invoked() -> None:
    assert cli("check", "--help").stdout.startswith("usage: python -m verify check")
    script = Path(sys.executable).with_name("verify")
    if not script.is_file():
        pytest.skip(f"the console script is not installed beside {sys.executable}")
    r = subprocess.run([str(script), "check", "--help"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("usage: verify check"), r.stdout + r.stderr


def test_verbose_lists_each_skip_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "fns.py").write_text(textwrap.dedent('''
        import torch

        class Square(torch.autograd.Function):
            """A hand-written backward and no jvp: forward-mode AD does not apply."""

            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return 2 * x * grad
    '''))
    args = (f"{tmp_path / 'fns.py'}:Square", "--only", "forward_ad", "--profile", "quick", "--jobs", "1")
    quiet, verbose = cli("check", *args), cli("check", *args, "-v")
    assert quiet.returncode == verbose.returncode == 0, quiet.stdout + quiet.stderr + verbose.stderr
    assert "PASSED: 1 subject(s), 0 passed, 0 failed, 0 errors, 1 skipped" in verbose.stdout
    assert "skip Square [forward_ad]: " in verbose.stdout, verbose.stdout
    assert "skip Square" not in quiet.stdout
