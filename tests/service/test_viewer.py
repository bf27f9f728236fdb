"""Who sees which scopes and decision records: the HTTP API's rule, for the dashboard's pages."""

from __future__ import annotations

from datetime import UTC, datetime

from hpcpolicy.ledger import DecisionRecord
from hpcpolicy.service import Governance
from hpcpolicy.service.viewer import Viewer, project_of


def record(user: str, caller: str, path: list[str] | None = None, project: str | None = None) -> DecisionRecord:
    decision = {"allow": False, "account_path": path or [], "project": None}
    request = {"user_id": user, "project": project}
    return DecisionRecord("d", datetime(2026, 1, 1, tzinfo=UTC), caller, user, False, "v", request, decision)


def test_scopes_of_admins_users_and_keys(gov: Governance) -> None:
    snap = gov.ctx.policies.current.snapshot
    assert Viewer("key:ops", everything=True).scopes(snap) is None
    assert Viewer("user:alice", user="alice").scopes(snap) == [
        "user:alice", "project:rnaseq-atlas", "project:wgs-cohort",
        "project:rnaseq-atlas/user:alice", "project:wgs-cohort/user:alice",  # her own share in each
    ]  # fmt: skip
    lab = Viewer("user:zoe", user="zoe", groups=frozenset({"imaging-lab"}))  # a member through a group only
    assert lab.scopes(snap) == ["user:zoe", "project:imaging-ai", "project:imaging-ai/user:zoe"]
    assert Viewer("key:hook").scopes(snap) == []


def test_may_read_follows_membership(gov: Governance) -> None:
    snap = gov.ctx.policies.current.snapshot
    dan = Viewer("user:dan", user="dan")
    assert dan.may_read("project:protein-lm", snap) and dan.may_read("user:dan", snap)
    assert not dan.may_read("project:wgs-cohort", snap) and not dan.may_read("user:alice", snap)
    assert not dan.may_read("team:ml-research", snap)  # teams and orgs: admins only, as in GET /v1/usage
    assert dan.may_read("project:protein-lm/user:dan", snap)  # his own share of his project
    assert not dan.may_read("project:protein-lm/user:carol", snap)  # not another member's
    assert not dan.may_read("project:wgs-cohort/user:dan", snap)  # nor a share of a project not his
    assert not Viewer("key:hook").may_read("user:hook", snap)
    assert Viewer("dev", everything=True).may_read("org:biocenter", snap)


def test_sees_own_made_and_project_records(gov: Governance) -> None:
    snap = gov.ctx.policies.current.snapshot
    dan = Viewer("user:dan", user="dan")
    assert dan.sees(record("dan", "key:gw"), snap)
    assert dan.sees(record("carol", "user:carol", ["user:carol", "project:protein-lm"]), snap)
    assert dan.sees(record("carol", "user:carol", project="imaging-ai"), snap)  # denied before routing
    assert not dan.sees(record("alice", "user:alice", ["user:alice", "project:wgs-cohort"]), snap)
    assert Viewer("key:hook").sees(record("x", "key:hook"), snap)
    assert not Viewer("key:hook").sees(record("hook", "key:other"), snap)


def test_project_of_prefers_the_account_path() -> None:
    assert project_of(record("a", "c", ["user:a", "project:p", "team:t"], project="q")) == "p"
    assert project_of(record("a", "c", project="q")) == "q"
    assert project_of(record("a", "c")) is None
