"""``hpcpolicy audit explain``: a stored decision decided again from the request, the policy revision and
the usage (replayed from the sealed log) it saw — the same answer, with the policy lines behind each
violation; an answer that differs (another policy text) exits 1 and says where."""

from __future__ import annotations

import json
from pathlib import Path

from hpcpolicy.cli.service_cmds import governance_from, settings_from
from hpcpolicy.cluster.revisions import RevisionStore
from hpcpolicy.engine import Request
from hpcpolicy.ledger import JobUsage, LienState
from hpcpolicy.ledger.event_records import charge_of, lien_of
from hpcpolicy.ledger.events import CHARGE_RECORDED
from hpcpolicy.ledger.sql.audit import seal, sealed_events
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.policy import example_policy_path
from hpcpolicy.service import Governance
from tests.cli.test_audit_cli import data_dir, run  # noqa: F401  (data_dir: the audited data directory fixture)


def _governance(data_dir: Path) -> Governance:  # noqa: F811
    gov = governance_from(settings_from(data_dir=data_dir), distribute=False)
    active = gov.ctx.policies.current
    RevisionStore(gov.ctx.ledger).seed(active.loaded.version, active.text, "policy.yaml", "local:admin")  # type: ignore[arg-type]
    return gov


def _until_denied(gov: Governance) -> tuple[list[str], str]:
    """zed, whom the policy does not list, reserves one-CPU jobs until the default user quota's concurrency
    cap (5 jobs at once) refuses one."""
    allowed = []
    for _ in range(10):
        outcome = gov.decide(Request(user_id="zed", partition="cpu", cpus=1), "key:gw", reserve=True)
        if not outcome.decision["allow"]:
            return allowed, outcome.decision_id
        allowed.append(outcome.decision_id)
    raise AssertionError("never denied")


def test_a_denial_is_explained_again_from_the_log_with_its_policy_lines(data_dir: Path) -> None:  # noqa: F811
    gov = _governance(data_dir)
    allowed, denied = _until_denied(gov)
    assert len(allowed) == 5
    for lien_id in [gov.get_decision(d).lien_id for d in allowed]:  # the jobs end: today zed has room again
        assert lien_id is not None
        gov.jobs.cancel(lien_id)
    assert run("audit", "seal", "--data-dir", str(data_dir))[0] == 0
    code, out, _ = run("audit", "explain", denied, "--data-dir", str(data_dir))
    text = " ".join(out.split())
    assert code == 0, out
    assert f"decision {denied}" in text and "DENY" in text and "decided again: the same answer" in text
    assert "5 usage event(s) sealed before it" in text  # the five liens, not their later cancellation
    assert "policy revision 1 (stored" in text
    assert "concurrency.max_jobs user:zed" in text and "user_quota: {cpu_hours: 120" in text  # the rule's line
    code, out, _ = run("audit", "explain", allowed[0], "--json", "--data-dir", str(data_dir))
    first = json.loads(out)
    assert code == 0 and first["same"] and first["usage_events"] == 0 and first["rules"] == []


def test_another_policy_text_gives_another_answer_and_exit_1(data_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    gov = _governance(data_dir)
    _, denied = _until_denied(gov)
    assert run("audit", "seal", "--data-dir", str(data_dir))[0] == 0
    looser = tmp_path / "looser.yaml"
    looser.write_text(example_policy_path().read_text().replace("max_jobs: 5,", "max_jobs: 50,", 1))
    code, out, _ = run("audit", "explain", denied, "--policy", str(looser), "--data-dir", str(data_dir))
    text = " ".join(out.split())
    assert code == 1 and "a different answer" in text and "allow: stored False, now True" in text
    assert "not the decision's" in text  # the file's version is not the one the decision named


def test_unknown_unsealed_and_unlogged_decisions_are_clear_errors(data_dir: Path) -> None:  # noqa: F811
    gov = _governance(data_dir)
    code, _, err = run("audit", "explain", "no-such-id", "--data-dir", str(data_dir))
    assert code == 1 and "no decision no-such-id" in err
    gov.ctx.ledger.seal_on_write = False  # type: ignore[attr-defined]  # as a writer that leaves it to the sealer
    decided = gov.decide(Request(user_id="alice", partition="cpu", cpus=1), "key:gw", reserve=True).decision_id
    code, _, err = run("audit", "explain", decided, "--data-dir", str(data_dir))
    assert code == 1 and "not sealed yet" in err


def test_every_lien_event_rebuilds_the_lien_as_stored(data_dir: Path) -> None:  # noqa: F811
    gov = _governance(data_dir)
    outcome = gov.decide(Request(user_id="alice", partition="cpu", cpus=2), "key:gw", reserve=True)
    lien_id = outcome.lien_id or ""
    gov.jobs.start(lien_id, "4242")
    gov.jobs.finish(lien_id, JobUsage(elapsed_hours=0.5), accounting=True)  # sacct's word: no clock check
    ledger = gov.ctx.ledger
    assert isinstance(ledger, SqlLedger)
    seal(ledger)
    with ledger.session() as tx:
        stored, charged = tx.get_lien(lien_id), tx.charges_for_lien(lien_id)
    chain = list(sealed_events(ledger))
    liens = [lien_of(e) for e in chain if e.type.startswith("hpcpolicy.lien.")]
    assert [lien.state for lien in liens] == [LienState.RESERVED, LienState.RUNNING, LienState.FINISHED]
    assert liens[-1] == stored and [charge_of(e) for e in chain if e.type == CHARGE_RECORDED] == charged
