"""Results are data: frozen records with ``to_json()``.

The JSON layout is a public contract (DESIGN.md, "Results JSON"); change it only with
a new ``SCHEMA_VERSION`` and a note.
"""

from __future__ import annotations

import enum
import math
import os
import platform
import subprocess
import tempfile
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
            "summary": self.summary,
            "details": jsonable(self.details),
            "findings": list(self.findings),
            "duration_s": round(self.duration_s, 4),
            "smallest_input": jsonable(self.smallest_input),
            "repro": self.repro,
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
            "name": self.name,
            "target": self.target,
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
    if isinstance(obj, bool) or obj is None or isinstance(obj, str | int):
        return obj
    if isinstance(obj, float):
        if math.isnan(obj):
            return "nan"
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return jsonable(tolist())
    return repr(obj)


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
