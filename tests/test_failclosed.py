"""The gate fails closed: nothing a subject does turns it green, loses another
subject's results or changes their verdicts (issue 17, one test per numbered case).

The subjects live in tests/hostile/, written the way users' code goes wrong. Each run
puts a well-behaved activation beside them, and every test asserts the exit code and
that each subject is in the JSON and in the JUnit (which must parse) with its own
verdict.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import torch

from verify.checks import Context
from verify.cli import main
from verify.runner import repro_command

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")

HOSTILE = Path(__file__).parent / "hostile"
ROOT = Path(__file__).parent.parent


def _env() -> dict[str, str]:
    """This checkout first on the path, in the CLI and in its workers."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "verify", *args], capture_output=True, text=True,
                          timeout=timeout, env=_env(), errors="replace")


def target(module: str, name: str) -> str:
    return f"{HOSTILE / module}.py:{name}"


def verdicts(json_path: Path, junit_path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Each subject's checks from the JSON, asserted to say the same in the JUnit."""
    data = json.loads(json_path.read_text(encoding="utf-8"))
    by = {s["name"]: {c["id"]: c for c in s["checks"]} for s in data["subjects"]}
    junit: dict[str, dict[str, str]] = {}
    for suite in ET.parse(junit_path).getroot():
        cases = junit.setdefault(suite.get("name", ""), {})
        for case in suite:
            kinds = [child.tag for child in case if child.tag != "system-out"]
            cases[case.get("name", "")] = {"failure": "fail", "error": "error", "skipped": "skip"}.get(
                kinds[0] if kinds else "", "pass")
    assert junit == {n: {cid: c["status"] for cid, c in checks.items()} for n, checks in by.items()}
    return by


def statuses(by: dict[str, dict[str, dict[str, Any]]]) -> dict[str, set[str]]:
    return {name: {c["status"] for c in checks.values()} for name, checks in by.items()}


def run_gate(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out, junit = tmp_path / "r.json", tmp_path / "j.xml"
    r = cli("check", *args, "--profile", "quick", "--json", str(out), "--junit", str(junit))
    return r, verdicts(out, junit)


# 1 ---------------------------------------------------------------------------------
def test_1_a_subject_that_exits_or_interrupts_is_its_own_error(tmp_path: Path) -> None:
    r, by = run_gate(tmp_path, target("exits", "NeedsCuda"), target("exits", "DebugExit"),
                     target("exits", "Interrupting"), target("exits_on_import", "act"), "silu",
                     "--only", "gradcheck,determinism", "--jobs", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert list(by) == ["NeedsCuda", "DebugExit", "Interrupting", "act", "silu"]
    assert statuses(by) == {"NeedsCuda": {"error"}, "DebugExit": {"error"}, "Interrupting": {"error"},
                            "act": {"error"}, "silu": {"pass"}}
    assert by["act"]["gradcheck"]["summary"] == "loading the subject raised SystemExit: run this file as a script"
    assert "SystemExit" in by["NeedsCuda"]["gradcheck"]["summary"]
    assert "SystemExit" in by["DebugExit"]["gradcheck"]["summary"]
    assert "KeyboardInterrupt" in by["Interrupting"]["gradcheck"]["summary"]
    assert "FAILED: 5 subject(s)" in r.stdout


def test_1_in_process_a_subject_that_exits_is_its_own_error(run: Any) -> None:
    """The pytest plugin's way: the check runs in pytest's process, which goes on."""
    exits = _hostile_module("exits")
    result = run("gradcheck", exits.DebugExit(), name="DebugExit")
    assert result.status.value == "error" and "SystemExit" in result.summary
    result = run("gradcheck", exits.Interrupting(), name="Interrupting")
    assert result.status.value == "error" and "KeyboardInterrupt" in result.summary


def _hostile_module(name: str) -> Any:
    sys.path.insert(0, str(HOSTILE))
    try:
        return __import__(name)
    finally:
        sys.path.pop(0)


def _slow_module(tmp_path: Path) -> Path:
    slow = tmp_path / "slow.py"
    slow.write_text("import time\nimport torch\n\n\ndef slow(x):\n    time.sleep(60)\n    return torch.tanh(x)\n")
    return slow


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_1_5_a_stopped_run_writes_what_finished_and_never_exits_0(tmp_path: Path, signum: int, code: int) -> None:
    """The user's Ctrl-C (to the whole process group, as a terminal sends it) or a
    SIGTERM stops the run at once; the finished subject is written, the JUnit parses."""
    out, junit = tmp_path / "r.json", tmp_path / "j.xml"
    args = ["check", "silu", f"{_slow_module(tmp_path)}:slow", "--only", "gradcheck", "--profile", "quick",
            "--jobs", "1", "--timeout", "120", "--json", str(out), "--junit", str(junit)]
    proc = subprocess.Popen([sys.executable, "-m", "verify", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(), start_new_session=True)
    try:
        _wait_for(lambda: out.is_file() and len(json.loads(out.read_text())["subjects"]) == 1, proc)
        time.sleep(0.5)  # into the slow subject's check
        stopped = time.monotonic()
        if signum == signal.SIGINT:  # a terminal's Ctrl-C reaches every process of the group
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == code, stdout + stderr
    assert time.monotonic() - stopped < 15, "stopped promptly, without waiting for the sleeping subject"
    assert f"stopped by {signal.Signals(signum).name}" in stderr
    assert f"STOPPED by {signal.Signals(signum).name}: 1 subject(s)" in stdout and "PASSED" not in stdout
    data = json.loads(out.read_text())
    assert data["complete"] is False and data["stopped_by"] == signal.Signals(signum).name
    assert statuses(verdicts(out, junit)) == {"silu": {"pass"}}


def _wait_for(condition: Any, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


# 2 ---------------------------------------------------------------------------------
def test_2_global_state_a_subject_changes_is_restored_and_named(tmp_path: Path) -> None:
    r, by = run_gate(tmp_path, target("state", "NoGradSwish"), target("state", "DoubleTanh"), "silu", "gelu",
                     "--only", "gradcheck,determinism,no_mutation", "--jobs", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(by)["silu"] == statuses(by)["gelu"] == {"pass"}, "checked after them in the same worker"
    assert by["NoGradSwish"]["gradcheck"]["status"] == "error"
    assert any("grad True -> False" in f for c in by["NoGradSwish"].values() for f in c["findings"])
    assert any("default_dtype torch.float32 -> torch.float64" in f
               for c in by["DoubleTanh"].values() for f in c["findings"])
    assert "grad True -> False" in r.stdout


def test_2_in_process_checks_restore_the_state_too(run: Any) -> None:
    """The pytest plugin's way: the check runs in the caller's process."""
    state = _hostile_module("state")
    result = run("determinism", state.NoGradSwish(), name="NoGradSwish")
    assert torch.is_grad_enabled() and torch.get_default_dtype() is torch.float32
    assert any("grad True -> False" in f for f in result.findings)


# 3 ---------------------------------------------------------------------------------
def test_3_a_dying_subject_is_an_error_and_the_rest_are_kept(tmp_path: Path) -> None:
    r, by = run_gate(tmp_path, target("crashes", "HardExit"), "silu", target("crashes", "Segfault"), "gelu",
                     "--only", "gradcheck,determinism", "--jobs", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert list(by) == ["HardExit", "silu", "Segfault", "gelu"]
    assert statuses(by) == {"HardExit": {"error"}, "silu": {"pass"}, "Segfault": {"error"}, "gelu": {"pass"}}
    assert by["HardExit"]["gradcheck"]["summary"] == "worker died: exit code 3 during gradcheck"
    assert by["Segfault"]["gradcheck"]["summary"] == "worker died: signal 11 (SIGSEGV) during gradcheck"
    assert by["Segfault"]["determinism"]["summary"] == "not run: the subject killed its worker in gradcheck"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the memory limit is Linux's RLIMIT_DATA")
def test_3_a_runaway_subject_is_an_error_and_the_next_one_gets_a_fresh_worker(tmp_path: Path) -> None:
    r, by = run_gate(tmp_path, target("crashes", "Hoarder"), "gelu", "--only", "gradcheck,determinism",
                     "--jobs", "1", "--memory-limit", "1500M")
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(by) == {"Hoarder": {"error"}, "gelu": {"pass"}}
    # Each check ran, the second in a fresh worker, and each ran out of memory itself.
    for cid in ("gradcheck", "determinism"):
        assert by["Hoarder"][cid]["summary"].startswith("out of memory: past the worker's limit of 1.46 GiB")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the memory limit is Linux's RLIMIT_DATA")
def test_3_one_greedy_check_costs_itself_and_the_rest_run_in_a_fresh_worker(tmp_path: Path) -> None:
    r, by = run_gate(tmp_path, target("slow", "GreedyJvp"), "--only", "gradcheck,forward_ad,determinism",
                     "--jobs", "1", "--memory-limit", "1500M")
    assert r.returncode == 1, r.stdout + r.stderr
    greedy = by["GreedyJvp"]
    assert greedy["forward_ad"]["summary"].startswith("out of memory: past the worker's limit of 1.46 GiB")
    assert (greedy["gradcheck"]["status"], greedy["determinism"]["status"]) == ("pass", "pass")


# 4 ---------------------------------------------------------------------------------
def test_4_a_hang_in_c_costs_its_check_and_one_more_worker_at_most(tmp_path: Path) -> None:
    r, by = run_gate(tmp_path, target("crashes", "SpinsInC"), "silu", "--only", "gradcheck,determinism,no_mutation",
                     "--timeout", "3", "--jobs", "2")
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(by)["silu"] == {"pass"}
    spin = by["SpinsInC"]
    killed = [cid for cid, c in spin.items() if "ran past its 3 s limit of CPU time (stuck where" in c["summary"]]
    # The rest of its checks went to a fresh worker, which it cost too: then no more.
    assert len(killed) == 2 and all(spin[cid]["status"] == "error" for cid in killed)
    (rest,) = set(spin) - set(killed)
    assert spin[rest]["summary"] == (f"not run: the subject ran past its limit in {killed[0]}, then ran past its "
                                     f"limit in {killed[1]}")


# 5 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_5_an_unwritable_output_is_exit_2_before_any_work(tmp_path: Path, where: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path if where == "folder" else tmp_path / "file" / "r.json"
    assert main(["check", "silu", "--only", "gradcheck", "--junit", str(path)]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and "--junit" in captured.err, captured.err
    assert not captured.out and "[1/1]" not in captured.err, "nothing was run"


def test_5_missing_folders_of_an_output_are_made(tmp_path: Path) -> None:
    out = tmp_path / "new" / "folder" / "r.json"
    assert main(["check", "torch.nn:Tanh", "--only", "gradcheck", "--profile", "quick", "--json", str(out),
                 "--quiet"]) == 0
    assert json.loads(out.read_text())["complete"] is True


def test_5_a_stopped_report_leaves_no_page_that_disagrees_with_its_results(tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "index.html").write_text("<p>last week's report</p>")
    (out / "results.json").write_text("{}")
    proc = subprocess.Popen([sys.executable, "-m", "verify", "report", "silu", f"{_slow_module(tmp_path)}:slow",
                             "--only", "gradcheck", "--profile", "quick", "--jobs", "1", "--no-bench",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        _wait_for(lambda: (out / "results.json").is_file() and (out / "results.json").read_text() != "{}"
                  and len(json.loads((out / "results.json").read_text())["subjects"]) == 1, proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stdout + stderr
    assert not (out / "index.html").exists(), "the old page is gone with the old results"
    data = json.loads((out / "results.json").read_text())
    assert data["stopped_by"] == "SIGTERM" and [s["name"] for s in data["subjects"]] == ["silu"]


# 6 ---------------------------------------------------------------------------------
def test_6_hostile_text_is_kept_out_of_the_terminal_and_made_safe_for_the_files(tmp_path: Path) -> None:
    evil = tmp_path / "acts\x1b[2J\x07dir"
    evil.mkdir()
    shutil.copy(HOSTILE / "noisy.py", evil / "noisy.py")
    r, by = run_gate(tmp_path, f"{evil / 'noisy.py'}:Chatty", "silu", "--only", "gradcheck,determinism", "--jobs", "2")
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(by) == {"Chatty": {"error"}, "silu": {"pass"}}
    assert "\x1b" not in r.stdout + r.stderr and "\x07" not in r.stdout + r.stderr
    assert len(r.stdout) + len(r.stderr) < 20_000, "what the subject printed stays out of the terminal"
    assert "\\x1b[31minput\\x00" in r.stdout, "the message is shown, spelled out"
    check = by["Chatty"]["gradcheck"]
    assert check["details"]["output_bytes"] > 1_000_000 and 0 < len(check["details"]["output"]) <= 4096
    assert "\\ud800" in check["summary"]


# 7 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["--timeout", "-1"], ["--timeout", "nan"], ["--timeout", "inf"],
                                  ["--timeout", "0"], ["--memory-limit", "lots"], ["--memory-limit", "0"],
                                  ["--only", "gradcheck", "--skip", "gradcheck"]])
def test_7_bad_limits_and_an_empty_selection_are_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "silu", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert args[-2] in err and "Traceback" not in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("data", [[], {"subjects": "x"}, {"subjects": [{"name": 1}]},
                                  {"subjects": [{"name": "a", "target": "a", "checks": [{"id": "gradcheck"}]}]},
                                  {"subjects": [{"name": "a", "target": "a",
                                                 "checks": [{"id": "x", "status": "maybe", "summary": ""}]}]}])
def test_7_report_from_json_of_the_wrong_shape_is_exit_2(tmp_path: Path, data: Any,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    assert main(["report", "--from", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot read results" in err and len(err.splitlines()) == 1, err


# 8 ---------------------------------------------------------------------------------
def test_8_a_printed_repro_fails_again(tmp_path: Path) -> None:
    folder = tmp_path / "it's my acts"
    folder.mkdir()
    shutil.copy(HOSTILE / "tunable.py", folder / "tunable.py")
    r, by = run_gate(tmp_path, f"{folder / 'tunable.py'}:Leaky", "--init", '{"alpha": 0.5}', "--only", "gradcheck",
                     "--dtype", "float32", "--timeout", "100")
    assert r.returncode == 1 and by["Leaky"]["gradcheck"]["status"] == "fail", r.stdout + r.stderr
    (line,) = [ln for ln in r.stdout.splitlines() if "reproduce:" in ln]
    words = shlex.split(line.split("reproduce: ", 1)[1])
    assert words[:3] == ["python", "-m", "verify"]
    assert {"--init", "--dtype", "--timeout", "--profile"} <= set(words)
    again = subprocess.run([sys.executable, *words[1:]], capture_output=True, text=True, timeout=300, env=_env())
    assert again.returncode == 1, again.stdout + again.stderr
    assert "FAIL Leaky [gradcheck]" in again.stdout
    # and without the options it dropped before, the same command passes: they matter
    bare = cli("check", f"{folder / 'tunable.py'}:Leaky", "--only", "gradcheck", "--profile", "quick")
    assert bare.returncode == 0, bare.stdout + bare.stderr


def test_8_repro_carries_parameter_values_and_quotes_every_word() -> None:
    ctx = Context(profile="ci", dtypes=(torch.float16,))
    line = repro_command("my dir/a'b.py:Act", "kinks", ctx, init={"alpha": 0.5}, timeout_s=30,
                         params={"beta": 0.1, "n": 3})
    assert shlex.split(line) == ["python", "-m", "verify", "check", "my dir/a'b.py:Act", "--only", "kinks",
                                 "--profile", "ci", "--dtype", "float16", "--init", '{"alpha":0.5}',
                                 "--timeout", "30", "--param", "beta=0.1", "--param", "n=3"]


# 9 ---------------------------------------------------------------------------------
def _hog() -> subprocess.Popen[bytes]:
    """A busy loop in another process, as another user's job on a shared machine."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def test_9_the_limit_is_cpu_time_one_slow_check_costs_itself_and_load_changes_no_verdict(tmp_path: Path) -> None:
    """SlowJvp's forward_ad takes far longer than any limit, its other checks a fraction
    of a second; Drowsy sleeps past the limit by the clock in special_values, using no
    CPU. Run alone and beside a busy loop, the verdicts are the same."""
    args = (target("slow", "SlowJvp"), target("slow", "Drowsy"), "--only",
            "gradcheck,forward_ad,special_values,determinism", "--timeout", "4", "--jobs", "1")
    runs = []
    for busy in (False, True):
        hog = _hog() if busy else None
        try:
            r, by = run_gate(tmp_path, *args)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
        assert r.returncode == 1, r.stdout + r.stderr
        runs.append({name: {cid: c["status"] for cid, c in checks.items()} for name, checks in by.items()})
        slow = by["SlowJvp"]["forward_ad"]
        # Its CPU-time limit, unless a machine more than 4 times oversubscribed reached the backstop first.
        assert slow["summary"].startswith("forward_ad ran past "), slow
        assert by["Drowsy"]["special_values"]["duration_s"] > 4  # past the limit by the clock only
    assert runs[0] == runs[1] == {
        "SlowJvp": {"gradcheck": "pass", "forward_ad": "error", "special_values": "pass", "determinism": "pass"},
        "Drowsy": {"gradcheck": "pass", "forward_ad": "pass", "special_values": "pass", "determinism": "pass"},
    }


def test_9_in_process_the_limit_is_cpu_time_with_a_wall_clock_backstop(monkeypatch: pytest.MonkeyPatch) -> None:
    from verify import runner
    from verify.runner import CheckTimeout, time_limit

    with time_limit(0.5):  # asleep past the limit: no CPU time used
        time.sleep(0.8)
    start = time.monotonic()
    with pytest.raises(CheckTimeout, match=r"by the clock"), time_limit(0.2):
        time.sleep(10)
    assert time.monotonic() - start >= runner.WALL_BACKSTOP_FACTOR * 0.2
    # However loaded the machine, only the CPU time can stop a busy loop here.
    monkeypatch.setattr(runner, "WALL_BACKSTOP_FACTOR", 1000.0)
    cpu = time.process_time()
    with pytest.raises(CheckTimeout, match=r"ran past its 0.3 s limit of CPU time"), time_limit(0.3):
        while True:
            pass
    # The kernel charges CPU time in ticks (1/100 s or finer): the timer fires within one.
    assert time.process_time() - cpu >= 0.3 - 0.02
