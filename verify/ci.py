"""The gate in a CI pipeline: baselines, shards, merged results and GitHub annotations.

All of it works on results as data (the results JSON's dicts), so a baseline written on
one machine, shards run on many and a merge done on a third agree with each other.

* A **baseline** records every (subject, check) that fails today. Compared with a later
  run, a failure not in it is *new* (a new subject that fails, or a regression) and fails
  the gate; a baseline failure that now passes is *fixed*, so the baseline can shrink.
* A **shard** ``K/N`` is every N-th subject of the sorted targets, starting at the K-th:
  deterministic, balanced, and the N shards together cover every subject exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verify.discover import WITH_IMPORTED, Found, definition_line, is_whole, only_imports
from verify.errors import TargetError

BASELINE_VERSION = 1
FAILING = ("fail", "error")


# -- shards ---------------------------------------------------------------------------
def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N), 1 <= K <= N; anything else is the user's mistake."""
    k, sep, n = text.partition("/")
    try:
        if not sep:
            raise ValueError
        shard, total = int(k), int(n)
    except ValueError:
        raise TargetError(f"--shard {text!r}: expected K/N, e.g. 1/4") from None
    if total < 1 or not 1 <= shard <= total:
        raise TargetError(f"--shard {text!r}: K must be between 1 and N")
    return shard, total


def shard(targets: Sequence[str], k: int, n: int) -> list[str]:
    """The K-th of N shards of ``targets``, in their given order."""
    chosen = set(sorted(set(targets))[k - 1 :: n])
    return [t for t in targets if t in chosen]


# -- merging results ------------------------------------------------------------------
def merge(payloads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One results payload from several (the shards of one run). A subject present in
    two of them means the runs overlapped: that is refused, not silently resolved."""
    if not payloads:
        raise TargetError("merge needs at least one results file")
    versions = {p.get("schema_version") for p in payloads}
    if len(versions) != 1:
        raise TargetError(f"cannot merge results of different schema versions {sorted(map(str, versions))}")
    seen: dict[str, int] = {}
    subjects = []
    for i, p in enumerate(payloads):
        for s in p["subjects"]:
            if s["target"] in seen:
                raise TargetError(f"{s['target']} is in results {seen[s['target']] + 1} and {i + 1}: "
                                  "the shards overlap")
            seen[s["target"]] = i
            subjects.append(s)
    environment = dict(payloads[0].get("environment", {}))
    environment["duration_s"] = round(sum(p.get("environment", {}).get("duration_s", 0.0) for p in payloads), 3)
    environment["merged_from"] = len(payloads)
    subjects.sort(key=lambda s: s["target"])
    return {**payloads[0], "environment": environment, "subjects": subjects}


def load_results(path: str | Path) -> dict[str, Any]:
    """A results JSON, checked for the shape the rest relies on (a wrong file is the
    user's mistake: one line, not a traceback)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TargetError(f"cannot read results from {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("subjects"), list) or not all(
        isinstance(s, dict) and {"name", "target", "checks"} <= s.keys() for s in data["subjects"]
    ):
        raise TargetError(f"{path} is not a verify results file (no subjects with name, target and checks)")
    return data


# -- baselines ------------------------------------------------------------------------
def failures(subjects: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, str]]:
    """(target, check id) -> {status, summary} for every failing or erroring check."""
    found = {}
    for s in subjects:
        for c in s["checks"]:
            if c["status"] in FAILING:
                found[(s["target"], c["id"])] = {"subject": s["name"], "status": c["status"], "summary": c["summary"]}
    return found


def baseline(subjects: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The baseline of a run: its failures, in a stable order, one per line when
    written (so a change to it reads as a small diff)."""
    entries = [{"target": t, "check": cid, **v} for (t, cid), v in sorted(failures(subjects).items())]
    return {"baseline_version": BASELINE_VERSION, "failures": entries}


def write_baseline(data: Mapping[str, Any], path: str | Path) -> None:
    from verify.results import write_atomic

    lines = ",\n".join("    " + json.dumps(e, sort_keys=True, ensure_ascii=False) for e in data["failures"])
    body = f'{{\n  "baseline_version": {data["baseline_version"]},\n  "failures": [\n{lines}\n  ]\n}}\n'
    write_atomic(path, body if data["failures"] else body.replace("[\n\n  ]", "[]"))


def load_baseline(path: str | Path) -> dict[tuple[str, str], dict[str, str]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("baseline_version") != BASELINE_VERSION:
            raise ValueError(f"baseline_version {data.get('baseline_version')!r}, expected {BASELINE_VERSION}")
        return {(e["target"], e["check"]): {k: e[k] for k in ("subject", "status", "summary")} for e in data["failures"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TargetError(f"cannot read the baseline {path}: {exc}") from None


@dataclass(frozen=True)
class Comparison:
    """A run against a baseline. Only subjects in the run are compared: a baseline entry
    for a subject this run did not check (another shard's) is neither new nor fixed."""

    new: tuple[tuple[str, str, str], ...]  # (target, check id, summary): these fail the gate
    fixed: tuple[tuple[str, str, str], ...]  # in the baseline, passing now
    known: tuple[tuple[str, str, str], ...]  # in the baseline, still failing

    @property
    def ok(self) -> bool:
        return not self.new

    def lines(self) -> list[str]:
        out = [f"new failure {t} [{c}]: {s}" for t, c, s in self.new]
        out += [f"fixed {t} [{c}] (was: {s}); remove it from the baseline" for t, c, s in self.fixed]
        out.append(f"baseline: {len(self.new)} new, {len(self.fixed)} fixed, {len(self.known)} known failure(s)")
        return out


def compare(subjects: Sequence[Mapping[str, Any]], known: Mapping[tuple[str, str], Mapping[str, str]]) -> Comparison:
    now = failures(subjects)
    ran = {(s["target"], c["id"]) for s in subjects for c in s["checks"]}
    return Comparison(
        new=tuple((t, c, v["summary"]) for (t, c), v in sorted(now.items()) if (t, c) not in known),
        fixed=tuple((t, c, v["summary"]) for (t, c), v in sorted(known.items()) if (t, c) in ran and (t, c) not in now),
        known=tuple((t, c, v["summary"]) for (t, c), v in sorted(now.items()) if (t, c) in known),
    )


# -- GitHub annotations ---------------------------------------------------------------
def github_annotations(subjects: Iterable[Mapping[str, Any]], only: set[tuple[str, str]] | None = None) -> list[str]:
    """A workflow command per failing check (``::error file=...,title=...::message``),
    which GitHub shows on the run and, with a file, on the pull request's diff. With
    ``only``, just those (target, check id) pairs: the new failures of a baseline run."""
    out = []
    for s in subjects:
        for c in s["checks"]:
            if c["status"] not in FAILING or (only is not None and (s["target"], c["id"]) not in only):
                continue
            props = {"title": f"verify {c['id']}: {s['name']} {c['status']}"}
            where, _, attr = s["target"].rpartition(":")
            if where.endswith(".py"):
                props["file"] = where
                line = definition_line(where, attr)
                if line is not None:  # pins the annotation to the class or function on the diff
                    props["line"] = str(line)
            message = c["summary"] + (f"\nreproduce: {c['repro']}" if c.get("repro") else "")
            fields = ",".join(f"{k}={_escape_property(v)}" for k, v in sorted(props.items()))
            out.append(f"::error {fields}::{_escape_data(message)}")
    return out


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


# -- the command line's gate options ---------------------------------------------------
def add_gate_options(p: Any) -> None:
    """``check``'s options for CI: what to run (a shard) and what fails the gate (new
    failures only, against a baseline)."""
    p.add_argument("--shard", metavar="K/N", help="run the K-th of N deterministic shards of the subjects")
    p.add_argument("--baseline", metavar="FILE",
                   help="fail only on failures not recorded in FILE (new subjects, regressions); report fixed ones")
    p.add_argument("--write-baseline", metavar="FILE",
                   help="record every failing (subject, check) of this run in FILE (the run exits 0)")
    p.add_argument("--format", choices=["text", "github"], default="text",
                   help="github: also print a workflow annotation per failure")
    p.add_argument("--imported", action="store_true",
                   help="a whole-file target: check the activations it imports as well as those it defines")


def expand(targets: Sequence[str], shard_text: str | None,
           discover: Callable[[str], Found], with_imported: bool = False) -> tuple[list[str], list[str]]:
    """Whole-file and whole-module targets expanded, with ``discover``, into the
    activations they define (and, ``with_imported``, those they import), then the shard
    taken. Returns the targets and one line per candidate skipped."""
    out: list[str] = []
    skipped: list[str] = []
    for t in targets:
        if is_whole(t):
            names = None if with_imported else only_imports(t)
            if names:  # said before the file's imports (torch's among them) are paid for
                raise TargetError(_imports_only(t, names))
            found = discover(t + WITH_IMPORTED if with_imported else t)
            if not found.targets:
                brought = () if with_imported else discover(t + WITH_IMPORTED).targets
                if brought:
                    raise TargetError(_imports_only(t, [b.rpartition(":")[2] for b in brought]))
                raise TargetError(f"{t} defines no activation to check"
                                  + (f" (skipped: {', '.join(n for n, _ in found.skipped)})" if found.skipped else ""))
            out += found.targets
            skipped += [f"skipped {t}:{name}: {why}" for name, why in found.skipped]
        else:
            out.append(t)
    if shard_text:
        k, n = parse_shard(shard_text)
        out = shard(out, k, n)
    return out, skipped


def _imports_only(target: str, names: Sequence[str]) -> str:
    return (f"{target} defines no activation of its own; it imports: {', '.join(names)}; "
            "pass --imported to check them")


def gate(args: Any, subjects: Sequence[Mapping[str, Any]], ok: bool) -> tuple[int, list[str], str | None]:
    """The exit code of a run under ``--baseline`` / ``--write-baseline`` / ``--format``,
    the lines to print, and the verdict that replaces PASSED or FAILED when a baseline
    decided the exit code (None when it did not): a run that exits 0 never says FAILED."""
    lines: list[str] = []
    code = 0 if ok else 1
    only = None
    verdict = None
    if getattr(args, "write_baseline", None):
        data = baseline(subjects)
        write_baseline(data, args.write_baseline)
        code = 0
        verdict = f"BASELINE WRITTEN: {len(data['failures'])} failure(s) recorded in {args.write_baseline}"
    elif getattr(args, "baseline", None):
        result = compare(subjects, load_baseline(args.baseline))
        lines += result.lines()
        code = 0 if result.ok else 1
        only = {(t, c) for t, c, _ in result.new}
        verdict = (f"PASSED against the baseline: {len(result.known)} known failure(s) accepted" if result.ok
                   else f"FAILED against the baseline: {len(result.new)} new failure(s)")
    if getattr(args, "format", "text") == "github":
        lines += github_annotations(subjects, only)
    return code, lines, verdict
