"""verify.runner: how one subject's checks are shared out among idle workers."""

from __future__ import annotations

from verify.checks import CHECKS
from verify.checks.base import Check
from verify.runner import select_checks, share_out


def fake(cid: str, cost_s: float) -> Check:
    return Check(cid, CHECKS["gradcheck"].fn, "", cost_s)


def test_every_check_runs_once_in_the_public_order_of_its_group():
    checks = select_checks(profile="ci")
    groups = share_out(checks, 2)
    assert len(groups) == 2 and all(groups)
    assert sorted(c for g in groups for c in g) == sorted(c.id for c in checks)
    order = [c.id for c in checks]
    assert all(list(g) == sorted(g, key=order.index) for g in groups)


def test_the_costliest_check_goes_where_the_least_is():
    checks = [fake("a", 0.1), fake("b", 0.9), fake("c", 0.2), fake("d", 0.3), fake("e", 0.3)]
    assert share_out(checks, 2) == [("b",), ("a", "c", "d", "e")]


def test_no_more_groups_than_checks_and_one_group_keeps_them_all():
    checks = [fake("a", 0.1), fake("b", 0.2)]
    assert share_out(checks, 5) == [("b",), ("a",)]
    assert share_out(checks, 1) == [("a", "b")]


def test_the_gate_shares_a_lone_subjects_checks_about_evenly():
    groups = share_out(select_checks(profile="ci"), 2)
    cost = [sum(CHECKS[c].cost_s for c in g) for g in groups]
    assert max(cost) - min(cost) <= max(CHECKS[c].cost_s for g in groups for c in g) / 2
