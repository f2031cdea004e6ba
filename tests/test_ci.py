"""verify.ci: shards cover every subject once, merges refuse overlaps, baselines tell new
failures from known and fixed ones, annotations escape what GitHub would misread."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from verify import ci
from verify.errors import TargetError


def subject(target: str, **statuses: str) -> dict[str, Any]:
    return {"name": target.rpartition(":")[2], "target": target, "info": {},
            "checks": [{"id": cid, "status": st, "summary": f"{cid} {st} on {target}"} for cid, st in statuses.items()]}


TARGETS = [f"zoo.py:Act{i}" for i in (3, 1, 10, 7, 2, 5, 4)]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 9])
def test_shards_cover_every_target_exactly_once(n: int) -> None:
    shards = [ci.shard(TARGETS, k, n) for k in range(1, n + 1)]
    flat = [t for s in shards for t in s]
    assert sorted(flat) == sorted(TARGETS)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1  # balanced
    assert ci.shard(list(reversed(TARGETS)), 1, n) == list(reversed(ci.shard(TARGETS, 1, n)))  # order-free choice


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", "-1/2"])
def test_a_bad_shard_is_the_users_mistake(text: str) -> None:
    with pytest.raises(TargetError, match="--shard"):
        ci.parse_shard(text)


def test_merge_joins_shards_and_refuses_overlaps() -> None:
    a = {"schema_version": 1, "environment": {"duration_s": 2.0}, "subjects": [subject("z.py:B", gradcheck="pass")]}
    b = {"schema_version": 1, "environment": {"duration_s": 3.0}, "subjects": [subject("z.py:A", gradcheck="fail")]}
    merged = ci.merge([a, b])
    assert [s["target"] for s in merged["subjects"]] == ["z.py:A", "z.py:B"]
    assert merged["environment"] == {"duration_s": 5.0, "merged_from": 2}
    with pytest.raises(TargetError, match="overlap"):
        ci.merge([a, a])
    with pytest.raises(TargetError, match="schema"):
        ci.merge([a, {**b, "schema_version": 2}])


def test_load_results_refuses_json_of_another_shape(tmp_path: Path) -> None:
    wrong = tmp_path / "w.json"
    wrong.write_text(json.dumps({"subjects": [{"name": "x"}]}))
    with pytest.raises(TargetError, match="not a verify results file"):
        ci.load_results(wrong)


def test_baseline_round_trip_and_comparison(tmp_path: Path) -> None:
    today = [subject("z.py:Old", gradcheck="fail", kinks="pass"), subject("z.py:Good", gradcheck="pass")]
    path = tmp_path / "baseline.json"
    ci.write_baseline(ci.baseline(today), path)
    text = path.read_text()
    assert text.count("\n") == 6 and '"check": "gradcheck"' in text  # one line per failure
    known = ci.load_baseline(path)
    assert ci.compare(today, known).ok

    later = [subject("z.py:Old", gradcheck="fail", kinks="error"), subject("z.py:Good", gradcheck="pass"),
             subject("z.py:New", gradcheck="fail")]
    result = ci.compare(later, known)
    assert not result.ok
    assert [(t, c) for t, c, _ in result.new] == [("z.py:New", "gradcheck"), ("z.py:Old", "kinks")]
    assert [(t, c) for t, c, _ in result.known] == [("z.py:Old", "gradcheck")]

    fixed = ci.compare([subject("z.py:Old", gradcheck="pass", kinks="pass")], known)
    assert fixed.ok and [(t, c) for t, c, _ in fixed.fixed] == [("z.py:Old", "gradcheck")]
    assert any(line.startswith("fixed z.py:Old [gradcheck]") for line in fixed.lines())


def test_another_shards_baseline_entries_are_neither_new_nor_fixed() -> None:
    known = {("z.py:Elsewhere", "gradcheck"): {"subject": "Elsewhere", "status": "fail", "summary": "s"}}
    result = ci.compare([subject("z.py:Here", gradcheck="pass")], known)
    assert result.ok and not result.fixed and not result.new


def test_a_broken_baseline_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"baseline_version": 1, "failures": [{"target": 1}]}')
    with pytest.raises(TargetError, match="cannot read the baseline"):
        ci.load_baseline(path)


def test_github_annotations_escape_and_point_at_the_file() -> None:
    s = subject("acts/zoo.py:Swish", gradcheck="fail", kinks="pass")
    s["checks"][0]["summary"] = "100% off at x = 1,\nsee: details"
    s["checks"][0]["repro"] = "python -m verify check acts/zoo.py:Swish --only gradcheck"
    (line,) = ci.github_annotations([s])
    assert line.startswith("::error file=acts/zoo.py,title=verify gradcheck%3A Swish fail::100%25 off at x = 1,%0Asee")
    assert "\n" not in line and "%0Areproduce: python -m verify check" in line
    assert ci.github_annotations([s], only=set()) == []


ACTS_FILE = '''"""Activations as a model library writes them."""
import torch
from torch import nn


def register_notrace_module(cls):
    return cls


@register_notrace_module
class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class Outer:
    class Inner(nn.Module):
        def forward(self, x):
            return x


SPEC = None
'''


def test_github_annotations_carry_the_line_that_defines_the_subject(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "acts.py").write_text(ACTS_FILE)
    monkeypatch.chdir(tmp_path)  # a target's file is relative to where the gate runs
    lines = ACTS_FILE.splitlines()
    where = {name: lines.index(text) + 1 for name, text in
             [("Swish", "class Swish(nn.Module):"), ("Outer.Inner", "class Outer:"), ("SPEC", "SPEC = None")]}
    for name, line in where.items():
        (annotation,) = ci.github_annotations([subject(f"lib/acts.py:{name}", gradcheck="fail")])
        assert annotation.startswith(f"::error file=lib/acts.py,line={line},title="), annotation
    # A name the file does not define at its top level, or a module target, has no line to give.
    (gone,) = ci.github_annotations([subject("lib/acts.py:Missing", gradcheck="fail")])
    (module,) = ci.github_annotations([subject("torch.nn:ReLU", gradcheck="error")])
    assert "line=" not in gone and gone.startswith("::error file=lib/acts.py,title=")
    assert "line=" not in module and "file=" not in module
