"""The policy's history for the dashboard: revisions newest first, diffs, and old rule texts for old decisions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcpolicy.cluster.revisions import RevisionStore
from hpcpolicy.engine import Request
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.service import Governance, NotFound, PolicyStore
from hpcpolicy.service.context import Context
from hpcpolicy.service.explorer import DecisionExplorer
from hpcpolicy.service.policy_history import MAX_DIFF_LINES, PolicyHistory, diff_lines
from tests.ledger.conftest import sqlite_ledger


@pytest.fixture
def sql_gov(tmp_path: Path, clock) -> Iterator[Governance]:
    """Policy revisions are stored in the SQL ledger only."""
    ledger = sqlite_ledger(tmp_path)
    yield Governance(Context(ledger, PolicyStore.from_file(None, env={}), clock=clock))
    ledger.engine.dispose()


def test_history_and_diff_of_each_revision(sql_gov: Governance) -> None:
    store = RevisionStore(sql_gov.ctx.ledger)  # type: ignore[arg-type]
    first = store.append("p@1", "a: 1\nb: 2\nc: 3\n", "policy.yaml", "startup")
    second = store.append("p@2", "a: 1\nb: 20\nc: 3\nd: 4\n", "upload by user:root", "user:root")
    history = PolicyHistory(sql_gov.ctx)
    assert history.available and [e.id for e in history.entries()] == [second.id, first.id]
    diff = history.diff(second.id)
    assert diff.previous is not None and diff.previous.id == first.id
    assert diff.summary["changed"] == ["b"] and diff.summary["added"] == ["d"]
    assert ("del", "-b: 2") in diff.lines and ("add", "+b: 20") in diff.lines and ("add", "+d: 4") in diff.lines
    assert diff.lines[0][0] == "hunk" and diff.cut == 0
    opening = history.diff(first.id)
    assert opening.previous is None and {kind for kind, _ in opening.lines} == {"hunk", "add"}
    with pytest.raises(NotFound):
        history.diff(second.id + 10)


def test_a_long_diff_is_cut_and_says_by_how_much(sql_gov: Governance) -> None:
    store = RevisionStore(sql_gov.ctx.ledger)  # type: ignore[arg-type]
    store.append("p@1", "", "s", "a")
    big = store.append("p@2", "".join(f"k{i}: {i}\n" for i in range(MAX_DIFF_LINES + 10)), "s", "a")
    diff = PolicyHistory(sql_gov.ctx).diff(big.id)
    assert len(diff.lines) == MAX_DIFF_LINES and diff.cut == 11  # the hunk header and 10 lines


def test_an_old_decision_finds_its_rules_in_the_stored_revision(sql_gov: Governance) -> None:
    old = sql_gov.ctx.policies.current
    RevisionStore(sql_gov.ctx.ledger).seed(old.loaded.version, old.text, "policy.yaml", "startup")  # type: ignore[arg-type]
    denied = sql_gov.decide(Request(user_id="alice", partition="gpu", gpus=1), "user:alice").decision_id
    sql_gov.ctx.policies.replace(old.text.replace("gpu: {role: gpu_user}", "gpu: {role: gpu_people}"), "edit")
    ex = DecisionExplorer(sql_gov.ctx)
    explained = ex.explain(ex.record(denied))
    assert explained.policy_source is not None and explained.policy_source.startswith("policy revision 1")
    (rule,) = explained.rules
    assert rule.fragment is not None and "gpu_user" in rule.fragment.text


def test_the_memory_ledger_has_no_history() -> None:
    history = PolicyHistory(Context(MemoryLedger(), PolicyStore.from_file(None, env={})))
    assert not history.available and history.entries() == [] and history.with_version("x") is None
    with pytest.raises(NotFound):
        history.diff(1)


def test_diff_lines_keep_lines_that_look_like_headers() -> None:
    assert diff_lines("x\n--- a\n", "x\n") == [("hunk", "@@ -1,2 +1 @@"), ("same", " x"), ("del", "---- a")]
