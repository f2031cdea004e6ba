"""Results are data: frozen records with ``to_json()``, and their files (the results
JSON, JUnit XML).

The JSON layout is a public contract (docs/design.md, "Results JSON"); change it only with
a new ``SCHEMA_VERSION`` and a note. Text a subject supplies (its name, an exception's
message, what it printed) may hold anything; it is made safe for JSON here and for XML
in :func:`write_junit`.
"""

from __future__ import annotations

import enum
import json
import math
import os
import platform
import re
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


class Status(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one subject."""

    id: str
    status: Status
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    findings: tuple[str, ...] = ()
    duration_s: float = 0.0
    # The smallest input found that shows a failure, and a command that reproduces it.
    smallest_input: Any = None
    repro: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in (Status.PASS, Status.SKIP)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "summary": clean(self.summary),
            "details": jsonable(self.details),
            "findings": [clean(f) for f in self.findings],
            "duration_s": round(self.duration_s, 4),
            "smallest_input": jsonable(self.smallest_input),
            "repro": None if self.repro is None else clean(self.repro),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CheckResult:
        return cls(
            id=d["id"],
            status=Status(d["status"]),
            summary=d["summary"],
            details=d.get("details", {}),
            findings=tuple(d.get("findings", ())),
            duration_s=d.get("duration_s", 0.0),
            smallest_input=d.get("smallest_input"),
            repro=d.get("repro"),
        )


@dataclass(frozen=True)
class SubjectResult:
    name: str
    target: str
    checks: tuple[CheckResult, ...]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": clean(self.name),
            "target": clean(self.target),
            "info": jsonable(self.info),
            "checks": [c.to_json() for c in self.checks],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SubjectResult:
        return cls(
            name=d["name"],
            target=d["target"],
            checks=tuple(CheckResult.from_json(c) for c in d["checks"]),
            info=d.get("info", {}),
        )


def jsonable(obj: Any) -> Any:
    """Plain JSON data from numbers, tensors, arrays, tuples and enums. Non-finite
    floats become the strings "inf", "-inf", "nan" (JSON has no literal for them)."""
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, str):
        return clean(obj)
    if isinstance(obj, bool) or obj is None or isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        if math.isnan(obj):
            return "nan"
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {clean(str(k)): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return jsonable(tolist())
    return repr(obj)


def clean(text: str) -> str:
    """Text that encodes as UTF-8: a lone surrogate (from a subject's message, or a file
    name that is not UTF-8) is spelled out as ``\\udcXX``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


# Characters XML 1.0 cannot hold at all, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Characters a terminal acts on instead of showing: control characters (ANSI escapes
# start with one), bidirectional overrides, and lone surrogates, which cannot be printed.
_NOT_SHOWN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _spelled(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def xml_text(text: str) -> str:
    """Text an XML parser accepts: every character XML 1.0 forbids spelled out as
    ``\\xNN`` or ``\\uNNNN`` (the XML writer escapes the rest)."""
    return _NOT_XML.sub(_spelled, text)


def printable(text: str) -> str:
    """One line for a terminal: what it would act on is spelled out instead."""
    return _NOT_SHOWN.sub(_spelled, text)


def environment(device: str, dtypes: list[str], profile: str) -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor() or platform.machine(),
        "dtypes": dtypes,
        "threads": torch.get_num_threads(),
        "profile": profile,
    }
    rev = git_revision()
    if rev:
        env["git_revision"] = rev
    return env


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a file so that a reader never sees half of it: a temporary file in the
    same folder, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is for reading
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- files ----------------------------------------------------------------------------
def payload(results: Sequence[SubjectResult], ctx: Any, started: float, complete: bool = True,
            stopped_by: str | None = None) -> dict[str, Any]:
    """The results JSON. ``complete`` is false in a file written while the run goes
    on, or by a run that was stopped (``stopped_by`` says by what)."""
    env = environment(ctx.device, [str(d).removeprefix("torch.") for d in ctx.dtypes], ctx.profile)
    env["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started))
    env["duration_s"] = round(time.time() - started, 3)
    data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "environment": env, "complete": complete}
    if stopped_by:
        data["stopped_by"] = stopped_by
    data["subjects"] = [r.to_json() for r in results]
    return data


def write_json(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    write_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def load_json(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[SubjectResult]]:
    """A results JSON and its subjects. Anything that is not one, however it is wrong,
    raises ValueError with a one-line reason (OSError for a file that cannot be read)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    try:
        if not isinstance(data, dict) or not isinstance(data.get("subjects"), list):
            raise ValueError("no list of subjects")
        if not isinstance(data.get("environment", {}), dict):
            raise ValueError("environment is not an object")
        results = []
        for i, s in enumerate(data["subjects"]):
            where = f"subjects[{i}]"
            if not isinstance(s, dict) or not isinstance(s.get("checks"), list):
                raise ValueError(f"{where} has no list of checks")
            for k in ("name", "target"):
                if not isinstance(s.get(k), str):
                    raise ValueError(f"{where}.{k} is not a string")
            if not isinstance(s.get("info", {}), dict):
                raise ValueError(f"{where}.info is not an object")
            for j, c in enumerate(s["checks"]):
                if not isinstance(c, dict) or not isinstance(c.get("id"), str) or not isinstance(c.get("summary"), str):
                    raise ValueError(f"{where}.checks[{j}] is not a check result (id, status, summary)")
                if not isinstance(c.get("details", {}), dict) or not isinstance(c.get("findings", []), list):
                    raise ValueError(f"{where}.checks[{j}]: details must be an object, findings a list")
                if not isinstance(c.get("duration_s", 0.0), int | float):
                    raise ValueError(f"{where}.checks[{j}].duration_s is not a number")
            results.append(SubjectResult.from_json(s))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a results JSON: {exc}") from None
    return data, results


def write_junit(results: Sequence[SubjectResult], path: str | os.PathLike[str]) -> None:
    """JUnit XML: a test suite per subject, a test case per check; what a check's subject
    printed goes in its ``system-out``."""
    suites = ET.Element("testsuites", name="verify")
    for r in results:
        suite = ET.SubElement(
            suites, "testsuite", name=xml_text(r.name),
            tests=str(len(r.checks)),
            failures=str(sum(c.status is Status.FAIL for c in r.checks)),
            errors=str(sum(c.status is Status.ERROR for c in r.checks)),
            skipped=str(sum(c.status is Status.SKIP for c in r.checks)),
            time=f"{sum(c.duration_s for c in r.checks):.3f}",
        )
        for c in r.checks:
            case = ET.SubElement(suite, "testcase", classname=xml_text(r.target), name=xml_text(c.id),
                                 time=f"{c.duration_s:.3f}")
            message = xml_text(c.summary)
            if c.status is Status.FAIL:
                ET.SubElement(case, "failure", message=message).text = xml_text(c.repro or "")
            elif c.status is Status.ERROR:
                text = "\n".join(str(t) for t in (c.repro, c.details.get("traceback")) if t)
                ET.SubElement(case, "error", message=message).text = xml_text(text)
            elif c.status is Status.SKIP:
                ET.SubElement(case, "skipped", message=message)
            if c.details.get("output"):
                ET.SubElement(case, "system-out").text = xml_text(str(c.details["output"]))
    write_atomic(path, ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n")


# The most characters of a smallest input a line of text shows.
SMALLEST_CHARS = 200


def smallest_text(value: Any) -> str | None:
    """A failure's smallest input as one short line (None when there is none): its
    nested lists written compactly, cut at SMALLEST_CHARS."""
    if value is None:
        return None
    text = json.dumps(jsonable(value), separators=(",", ":"))
    return text if len(text) <= SMALLEST_CHARS else text[: SMALLEST_CHARS - 3] + "..."
