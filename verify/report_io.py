"""Writing results: the results JSON, JUnit XML and the terminal summary."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from verify.results import SCHEMA_VERSION, Status, SubjectResult, environment, write_atomic

MARK = {Status.PASS: "pass", Status.FAIL: "FAIL", Status.SKIP: "skip", Status.ERROR: "ERROR"}


def payload(results: Sequence[SubjectResult], ctx: Any, started: float) -> dict[str, Any]:
    env = environment(ctx.device, [str(d).removeprefix("torch.") for d in ctx.dtypes], ctx.profile)
    env["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started))
    env["duration_s"] = round(time.time() - started, 3)
    return {"schema_version": SCHEMA_VERSION, "environment": env, "subjects": [r.to_json() for r in results]}


def write_json(data: dict[str, Any], path: str) -> None:
    write_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def load_json(path: str) -> tuple[dict[str, Any], list[SubjectResult]]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return data, [SubjectResult.from_json(s) for s in data["subjects"]]


def write_junit(results: Sequence[SubjectResult], path: str) -> None:
    suites = ET.Element("testsuites", name="verify")
    for r in results:
        suite = ET.SubElement(
            suites, "testsuite", name=r.name,
            tests=str(len(r.checks)),
            failures=str(sum(c.status is Status.FAIL for c in r.checks)),
            errors=str(sum(c.status is Status.ERROR for c in r.checks)),
            skipped=str(sum(c.status is Status.SKIP for c in r.checks)),
            time=f"{sum(c.duration_s for c in r.checks):.3f}",
        )
        for c in r.checks:
            case = ET.SubElement(suite, "testcase", classname=r.target, name=c.id, time=f"{c.duration_s:.3f}")
            if c.status is Status.FAIL:
                ET.SubElement(case, "failure", message=c.summary).text = c.repro or ""
            elif c.status is Status.ERROR:
                ET.SubElement(case, "error", message=c.summary).text = str(c.details.get("traceback", ""))
            elif c.status is Status.SKIP:
                ET.SubElement(case, "skipped", message=c.summary)
    write_atomic(path, ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n")


def summary_table(results: Sequence[SubjectResult]) -> str:
    """One row per subject, then every failure, error and finding on its own line."""
    lines = []
    width = max([len(r.name) for r in results] + [7])
    totals = dict.fromkeys(Status, 0)
    lines.append(f"{'subject':<{width}}  pass  fail  error  skip")
    for r in results:
        counts = dict.fromkeys(Status, 0)
        for c in r.checks:
            counts[c.status] += 1
            totals[c.status] += 1
        lines.append(f"{r.name:<{width}}  {counts[Status.PASS]:>4}  {counts[Status.FAIL]:>4}  "
                     f"{counts[Status.ERROR]:>5}  {counts[Status.SKIP]:>4}")
    problems = [(r, c) for r in results for c in r.checks if c.status in (Status.FAIL, Status.ERROR)]
    if problems:
        lines.append("")
        for r, c in problems:
            lines.append(f"{MARK[c.status]} {r.name} [{c.id}]: {c.summary}")
            if c.repro:
                lines.append(f"     reproduce: {c.repro}")
    findings = [(r, c, f) for r in results for c in r.checks for f in c.findings]
    if findings:
        lines.append("")
        for r, c, f in findings:
            lines.append(f"finding {r.name} [{c.id}]: {f}")
    lines.append("")
    verdict = "PASSED" if totals[Status.FAIL] == totals[Status.ERROR] == 0 else "FAILED"
    lines.append(f"{verdict}: {len(results)} subject(s), {totals[Status.PASS]} passed, {totals[Status.FAIL]} failed, "
                 f"{totals[Status.ERROR]} errors, {totals[Status.SKIP]} skipped")
    return "\n".join(lines)
