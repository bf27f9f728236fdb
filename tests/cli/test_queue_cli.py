"""``hpcpolicy queue list|cancel``: the held requests in admission order, and withdrawing one."""

from __future__ import annotations

import json
from pathlib import Path

from hpcpolicy.cli.service_cmds import governance_from, settings_from
from hpcpolicy.engine import Request
from hpcpolicy.service.holding import Hold
from tests.cli.test_audit_cli import data_dir, run  # noqa: F401  (data_dir: the audited data directory fixture)


def _held(data_dir: Path, count: int) -> list[str]:  # noqa: F811
    """``zed`` (the default user quota: five jobs at once) fills the cap, then asks ``count`` more times."""
    gov = governance_from(settings_from(data_dir=data_dir), distribute=False)
    request = Request(user_id="zed", partition="cpu", cpus=1, walltime_hours=1)
    for _ in range(5):
        assert gov.decide(request, "key:gw", reserve=True).allow
    held = [gov.decide(request, "key:gw", hold=Hold()) for _ in range(count)]
    assert all(h.held is not None for h in held)
    return [h.decision_id for h in held]


def test_list_and_cancel(data_dir: Path) -> None:  # noqa: F811
    ids = _held(data_dir, 2)
    code, out, _ = run("queue", "list", "--data-dir", str(data_dir))
    assert code == 0 and ids[0] in out and ids[1] in out and "user:zed" in out and "2 waiting" in out
    code, out, _ = run("queue", "list", "--json", "--data-dir", str(data_dir))
    rows = json.loads(out)
    assert [r["decision_id"] for r in rows] == ids and [r["position"] for r in rows] == [1, 2]
    code, out, _ = run("queue", "cancel", ids[0], "--data-dir", str(data_dir))
    assert code == 0 and f"cancelled {ids[0]}" in out
    code, _, err = run("queue", "cancel", ids[0], "--data-dir", str(data_dir))
    assert code == 1 and "no longer queued: cancelled" in " ".join(err.split())
    code, out, _ = run("queue", "list", "--json", "--user", "zed", "--data-dir", str(data_dir))
    assert [r["decision_id"] for r in json.loads(out)] == ids[1:]


def test_hostile_arguments_are_clear_errors(data_dir: Path) -> None:  # noqa: F811
    code, out, err = run("queue", "list", "--user", "z\x00ed", "--data-dir", str(data_dir))
    assert code == 1 and out == "" and "--user" in err and "control character" in err
    code, _, err = run("queue", "cancel", "x" * 300, "--data-dir", str(data_dir))
    assert code == 1 and "longer than 191 characters" in " ".join(err.split())
