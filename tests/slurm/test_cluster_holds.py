"""Jobs over a concurrency cap on the real cluster: accepted held, the reason in ``squeue``, released by
``hpcpolicy slurm sync --watch`` in the order ``hpcpolicy serve``'s dispatcher admits them.

Project ``queue`` (tests/slurm/policy.yaml) runs two jobs at once; games and man are its members. The
service and the sync recompute fair shares each second here (see the ``service`` fixture).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hpcpolicy.adapters.slurm.admission import submit_key, token_of
from hpcpolicy.ledger import LienState
from hpcpolicy.ledger.queue import QueuedRequest, QueueState
from tests.slurm.cluster import SlurmCluster
from tests.slurm.conftest import POLICY, Service
from tests.slurm.test_cluster_sync import sync

pytestmark = [pytest.mark.slurm_cluster, pytest.mark.usefixtures("accounting")]
WAITING = "hpcpolicy: waiting for a concurrency slot (concurrency.max_jobs), position"


def submit(slurm: SlurmCluster, user: str, command: str, *extra: str) -> tuple[str, str]:
    """Submit to project queue as ``user``; (job id, what sbatch told the user)."""
    done = slurm.sbatch("-p", "cpu", "-A", "queue", "-n", "1", "-t", "5", *extra, "--wrap", command, user=user)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), done.stderr


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


def queued(slurm: SlurmCluster, service: Service, job_id: str) -> QueuedRequest | None:
    """The queue entry of a job, by the token in its admin comment (the sync's own way)."""
    token = token_of(slurm.job_field(job_id, "AdminComment"))
    with service.ledger().session() as tx:
        return tx.find_queued(submit_key(token)) if token else None


def lien_state(slurm: SlurmCluster, service: Service, job_id: str) -> LienState | None:
    lien = service.lien_of(slurm, job_id)
    return lien.state if lien is not None else None


def comment(slurm: SlurmCluster, job_id: str) -> str:
    """The comment as users see it (``squeue -o %k``; ended jobs too, while the controller keeps them)."""
    return slurm.run("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%k").stdout.strip()


@pytest.fixture
def watching(plugin: SlurmCluster, service: Service, tmp_path: Path) -> Iterator[Path]:
    """``hpcpolicy slurm sync --watch`` every second, as an operator runs it; its JSON reports go to the file."""
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    cmd = [sys.executable, "-m", "hpcpolicy.cli.main", "slurm", "sync", "--watch", "--interval", "1",
           "--data-dir", str(service.data_dir), "--policy", str(POLICY), "--since", since, "--settle", "0",
           "--grace", "0", "--state-file", str(tmp_path / "state.json"), "--json"]  # fmt: skip
    reports, errors = tmp_path / "watch.json", tmp_path / "watch.err"
    with reports.open("wb") as out, errors.open("wb") as err:
        # the service's settings: fair shares (hence positions) recomputed each second in these tests
        env = plugin.env | {"HPCPOLICY_FAIRSHARE_RECALC_SECONDS": "1"}
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
    try:
        yield reports
    finally:
        process.terminate()  # SIGTERM ends the loop between passes
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors.read_text()


def watch_reports(path: Path) -> list[dict[str, Any]]:
    """The watch's reports (pretty-printed JSON documents, one after another)."""
    text, decoder, found, at = path.read_text(), json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) >= 0:
        report, at = decoder.raw_decode(text, at)
        found.append(report)
    return found


def test_jobs_over_the_cap_wait_held_and_are_released_in_fair_share_order(
    plugin: SlurmCluster, service: Service, watching: Path
) -> None:
    running = [submit(plugin, "games", "sleep 10")[0], submit(plugin, "games", "sleep 16")[0]]
    wait_for("games's jobs started", lambda: all(lien_state(plugin, service, j) == LienState.RUNNING for j in running))
    time.sleep(1.5)  # the service's fair-share factors (recomputed each second) now count games's running jobs

    submitted = [submit(plugin, "games", "sleep 2"), submit(plugin, "games", "sleep 2"),
                 submit(plugin, "man", "sleep 2"), submit(plugin, "man", "sleep 2")]  # fmt: skip
    g1, g2, m1, m2 = (job_id for job_id, _ in submitted)
    # games's two wait in the order sent; man's, sent later, go before them: man has used nothing
    for (job_id, told), position in zip(submitted, (1, 2, 1, 2), strict=True):
        assert f"sbatch: hpcpolicy: job held: it waits for a concurrency slot, position {position};" in told
        assert "concurrency.max_jobs" in told and "[project:queue; limit 2" in told
        assert plugin.job_field(job_id, "JobState") == "PENDING"
    assert comment(plugin, m1) == f"{WAITING} 1"
    assert plugin.run("runuser", "-u", "games", "--", "scontrol", "release", g1).returncode != 0  # only the service
    wait_for("the sync shows games's place behind man's", lambda: comment(plugin, g1) == f"{WAITING} 3", 8)
    assert plugin.job_field(g1, "Reason") == "JobHeldAdmin"  # the sync made the plugin's hold an admin's

    held = (g1, g2, m1, m2)
    wait_for("every held job ran", lambda: all(plugin.job_field(j, "JobState") == "COMPLETED" for j in held))
    entries = {job_id: queued(plugin, service, job_id) for job_id in held}
    assert all(e is not None and e.state is QueueState.ADMITTED for e in entries.values()), entries
    admitted = sorted(entries, key=lambda j: (entries[j].resolved_at, entries[j].seq))  # type: ignore[union-attr]
    assert admitted == [m1, m2, g1, g2]  # fair share, not arrival
    starts = [plugin.job_field(job_id, "StartTime") for job_id in admitted]
    assert starts == sorted(starts) and starts[0] < starts[2], starts  # Slurm ran them in that order
    assert comment(plugin, g1) == ""  # hpcpolicy's status is gone once released

    wait_for("every lien charged", lambda: all(lien_state(plugin, service, j) == LienState.FINISHED
                                               for j in (*running, *admitted)))  # fmt: skip
    released = sum(r.get("holds", {}).get("released", 0) for r in watch_reports(watching))
    assert released == 4


def test_a_held_job_cancelled_by_its_user_leaves_the_queue_and_a_withdrawn_one_is_cancelled(
    plugin: SlurmCluster, service: Service
) -> None:
    blockers = [submit(plugin, "man", "true", "--hold")[0] for _ in range(2)]  # admitted, held by man: both slots
    gone, _ = submit(plugin, "man", "sleep 1", "--comment", "run 7")
    withdrawn, _ = submit(plugin, "man", "sleep 1", "--comment", "run 8")
    assert comment(plugin, gone) == f"{WAITING} 1 | run 7"
    plugin.run("runuser", "-u", "man", "--", "scancel", gone)
    entry = queued(plugin, service, withdrawn)
    assert entry is not None
    cancel = [sys.executable, "-m", "hpcpolicy.cli.main", "queue", "cancel", entry.id, "--data-dir",
              str(service.data_dir), "--policy", str(POLICY)]  # fmt: skip
    assert subprocess.run(cancel, capture_output=True, text=True, timeout=60).returncode == 0

    report = sync(plugin, service)
    assert report["holds"] == {"refused": 1, "withdrawn": 1}, report
    assert queued(plugin, service, gone).state is QueueState.CANCELLED  # type: ignore[union-attr]
    plugin.wait_job_state(withdrawn, "CANCELLED")
    assert comment(plugin, withdrawn) == "hpcpolicy: cancelled: withdrawn from the admission queue | run 8"

    for job_id in blockers:
        plugin.run("scancel", job_id)
    sync(plugin, service)  # their liens: released (no job left to hold them)
    assert all(lien_state(plugin, service, j) != LienState.RESERVED for j in blockers)
