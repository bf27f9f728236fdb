"""The decision explorer: filters, who sees which record, paging, and the rule text behind a denial."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hpcpolicy.engine import Request
from hpcpolicy.service import Governance, InvalidInput, NotFound
from hpcpolicy.service import explorer as explorer_module
from hpcpolicy.service.explorer import DecisionExplorer, DecisionQuery
from hpcpolicy.service.viewer import Viewer

ADMIN = Viewer("key:ops", everything=True)
ALICE = Viewer("user:alice", user="alice")  # wgs-cohort, rnaseq-atlas
DAN = Viewer("user:dan", user="dan")  # protein-lm, imaging-ai


def decide(gov: Governance, clock, **fields: object) -> str:
    clock.advance(minutes=1)
    return gov.decide(Request(**fields), "user:" + str(fields["user_id"])).decision_id


@pytest.fixture
def made(gov: Governance, clock) -> dict[str, str]:
    return {
        "alice_ok": decide(gov, clock, user_id="alice", partition="cpu", cpus=4),
        "alice_gpu": decide(gov, clock, user_id="alice", partition="gpu", gpus=1),  # gpu.role_required
        "bob_wgs": decide(gov, clock, user_id="bob", project="wgs-cohort", partition="cpu", cpus=2),
        "carol_lm": decide(gov, clock, user_id="carol", partition="cpu", cpus=2),  # protein-lm
        "erin_none": decide(gov, clock, user_id="erin", partition="cpu"),  # project.required
    }


def ids(page) -> list[str]:
    return [r.id for r in page.records]


def test_an_admin_finds_by_user_scope_code_and_answer(gov: Governance, made) -> None:
    ex = DecisionExplorer(gov.ctx)
    assert ids(ex.search(DecisionQuery(), ADMIN)) == list(reversed(made.values()))
    assert ids(ex.search(DecisionQuery(user="alice"), ADMIN)) == [made["alice_gpu"], made["alice_ok"]]
    wgs = ex.search(DecisionQuery(scope="project:wgs-cohort"), ADMIN)
    assert ids(wgs) == [made["bob_wgs"], made["alice_gpu"], made["alice_ok"]]
    assert ids(ex.search(DecisionQuery(scope="team:ml-research"), ADMIN)) == [made["carol_lm"]]
    assert ids(ex.search(DecisionQuery(code="gpu.role_required"), ADMIN)) == [made["alice_gpu"]]
    assert ids(ex.search(DecisionQuery(allow=False), ADMIN)) == [made["erin_none"], made["alice_gpu"]]
    assert ids(ex.search(DecisionQuery(scope="user:erin"), ADMIN)) == [made["erin_none"]]


def test_time_range_is_half_open(gov: Governance, made) -> None:
    ex = DecisionExplorer(gov.ctx)
    at = {r.id: r.at for r in ex.search(DecisionQuery(), ADMIN).records}
    query = DecisionQuery(since=at[made["alice_gpu"]], until=at[made["carol_lm"]])
    assert ids(ex.search(query, ADMIN)) == [made["bob_wgs"], made["alice_gpu"]]


def test_a_user_sees_their_own_and_their_projects_decisions_only(gov: Governance, made) -> None:
    ex = DecisionExplorer(gov.ctx)
    assert ids(ex.search(DecisionQuery(), ALICE)) == [made["bob_wgs"], made["alice_gpu"], made["alice_ok"]]
    assert ids(ex.search(DecisionQuery(), DAN)) == [made["carol_lm"]]
    assert ids(ex.search(DecisionQuery(user="carol"), ALICE)) == []
    assert ids(ex.search(DecisionQuery(), Viewer("key:hook"))) == []  # a plain key: only what it made
    mine = gov.decide(Request(user_id="erin", project="imaging-ai", partition="cpu"), "key:hook").decision_id
    assert ids(ex.search(DecisionQuery(), Viewer("key:hook"))) == [mine]
    assert ids(ex.search(DecisionQuery(), Viewer("user:zed", user="zed"))) == []  # no decision, no project


def test_pages_continue_where_the_last_stopped(gov: Governance, made) -> None:
    ex = DecisionExplorer(gov.ctx)
    first = ex.search(DecisionQuery(), ADMIN, limit=2)
    assert ids(first) == [made["erin_none"], made["carol_lm"]] and first.more is not None
    second = ex.search(DecisionQuery(), ADMIN, limit=2, before=first.more)
    third = ex.search(DecisionQuery(), ADMIN, limit=2, before=second.more)
    assert ids(second) == [made["bob_wgs"], made["alice_gpu"]] and ids(third) == [made["alice_ok"]]
    assert third.more is None and not third.cut


def test_a_search_reads_at_most_max_scan_records_and_says_so(gov: Governance, made, monkeypatch) -> None:
    monkeypatch.setattr(explorer_module, "MAX_SCAN", 3)
    monkeypatch.setattr(explorer_module, "_BATCH", 2)
    page = DecisionExplorer(gov.ctx).search(DecisionQuery(code="gpu.role_required"), ADMIN)
    assert page.records == [] and page.cut and page.scanned == 3 and page.more is not None
    rest = DecisionExplorer(gov.ctx).search(DecisionQuery(code="gpu.role_required"), ADMIN, before=page.more)
    assert ids(rest) == [made["alice_gpu"]] and not rest.cut


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (DecisionQuery(user="a\x00b"), "user"),
        (DecisionQuery(user="x" * 192), "user"),
        (DecisionQuery(scope="galaxy:far"), "scope"),
        (DecisionQuery(scope="project:" + "p" * 300), "scope"),
        (DecisionQuery(code="made.up"), "code"),
    ],
)
def test_filters_that_cannot_match_are_refused_by_name(gov: Governance, query: DecisionQuery, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        DecisionExplorer(gov.ctx).search(query, ADMIN)
    assert [name for name, _ in err.value.errors] == [field]


def test_an_empty_time_range_is_refused(gov: Governance, clock) -> None:
    with pytest.raises(InvalidInput, match="until"):
        DecisionExplorer(gov.ctx).search(DecisionQuery(since=clock.now, until=clock.now - timedelta(1)), ADMIN)


def test_a_denial_comes_with_the_policy_lines_of_each_rule(gov: Governance, clock) -> None:
    denied = decide(gov, clock, user_id="alice", partition="cpu", cpus=2048, gpus=2, walltime_hours=200)
    ex = DecisionExplorer(gov.ctx)
    explained = ex.explain(ex.record(denied))
    assert explained.policy_source is not None and explained.policy_source.startswith("the active policy")
    by_code = {r.violation["code"]: r for r in explained.rules}
    assert {"limit.max_cpus", "gpu.role_required", "quota.cpu_hours_exceeded"} <= set(by_code)
    assert "gpu: {role: gpu_user}" in by_code["gpu.role_required"].fragment.text
    assert "max_cpus" in by_code["limit.max_cpus"].fragment.text


def test_rejected_routes_are_explained_per_partition(gov: Governance, clock) -> None:
    denied = decide(gov, clock, user_id="alice", cpus=8, memory_gb=4096)  # route.no_fit
    ex = DecisionExplorer(gov.ctx)
    explained = ex.explain(ex.record(denied))
    partitions = {r.partition for r in explained.rules if r.partition is not None}
    assert "helix/cpu" in partitions and any(r.fragment is not None for r in explained.rules if r.partition)


def test_a_decision_under_a_policy_no_longer_held_says_its_text_is_missing(gov: Governance, clock) -> None:
    denied = decide(gov, clock, user_id="alice", partition="gpu", gpus=1)
    text = gov.ctx.policies.current.text.replace("gpu: {role: gpu_user}", "gpu: {role: gpu_people}")
    gov.ctx.policies.replace(text, source="edit")
    ex = DecisionExplorer(gov.ctx)
    explained = ex.explain(ex.record(denied))
    # no revision was stored (the memory ledger keeps none; this SQLite one was never given one)
    assert explained.policy_source is None and "not stored" in explained.notes[0]
    assert [r.fragment for r in explained.rules] == [None]


def test_unknown_and_unusable_decision_ids_are_not_found(gov: Governance) -> None:
    ex = DecisionExplorer(gov.ctx)
    for bad in ("nope", "a\x00", "x" * 500):
        with pytest.raises(NotFound):
            ex.record(bad)
