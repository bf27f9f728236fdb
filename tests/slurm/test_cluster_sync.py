"""Jobs that really ran on the test cluster, reconciled from its slurmdbd with ``hpcpolicy slurm sync``.

The expected figures are read from ``sacct`` independently (allocated CPUs × ElapsedRaw), so the check is
"the ledger says what Slurm recorded", not "the ledger says what the sync computed".
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hpcpolicy.adapters.slurm.sacct import STATES, SacctReader, sacct_command
from hpcpolicy.adapters.traces.sacct import parse_tres
from hpcpolicy.engine.windows import window_bounds
from hpcpolicy.ledger import LienState
from hpcpolicy.policy.schema import Period
from tests.slurm.cluster import SlurmCluster, free_port
from tests.slurm.conftest import POLICY, Service

pytestmark = [pytest.mark.slurm_cluster, pytest.mark.usefixtures("accounting")]


def sync(slurm: SlurmCluster, service: Service, *extra: str) -> dict[str, object]:
    """Run the CLI as an admin would, against the service's ledger; return its JSON report."""
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    cmd = [sys.executable, "-m", "hpcpolicy.cli.main", "slurm", "sync", "--data-dir", str(service.data_dir),
           "--policy", str(POLICY), "--since", since, "--settle", "0", "--grace", "0", "--json", *extra]  # fmt: skip
    done = subprocess.run(cmd, env=slurm.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


def wait_recorded(slurm: SlurmCluster, job_id: str, timeout: float = 60) -> str:
    """Wait until the sync's own sacct query reports the job ended, its record complete; return its state.

    slurmdbd's record settles a moment after a job ends (missing from window queries, or without its
    partition); the sync waits ``--settle`` seconds for that, these tests run it with 0 and wait here.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = datetime.now(UTC)
        out = slurm.run(*sacct_command(now - timedelta(hours=1), now + timedelta(seconds=1))).stdout
        for job in SacctReader().jobs(out.splitlines()):
            ran = job.usage.elapsed_hours > 0  # a job cancelled while held may still show a Start
            complete = job.partition is not None and job.account is not None and (job.usage.cpus is not None or not ran)
            if job.job_id == job_id and job.phase.ended and job.ended_at is not None and complete:
                return job.phase.value
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not in accounting after {timeout} s")


def recorded_cpu_hours(slurm: SlurmCluster, **select: str) -> dict[str, float]:
    """CPU-hours per job as slurmdbd recorded them: AllocTRES cpu × ElapsedRaw, ended jobs only."""
    args = [f"--{key}={value}" for key, value in select.items()]
    now, stamp = datetime.now(UTC), "%Y-%m-%dT%H:%M:%S"
    window = ["-S", (now - timedelta(hours=1)).strftime(stamp), "-E", (now + timedelta(seconds=1)).strftime(stamp)]
    rows = slurm.run("sacct", "-a", "-X", "-n", "-P", "-s", STATES, *window, "-o", "JobIDRaw,AllocTRES,ElapsedRaw,End",
                     *args).stdout.split()  # fmt: skip
    hours = {}
    for row in rows:
        job_id, tres, elapsed, end = row.split("|")
        if end not in ("Unknown", "") and elapsed.isdigit():
            hours[job_id] = int(parse_tres(tres).get("cpu", "0")) * int(elapsed) / 3600
    return hours


def test_job_is_bound_while_running_and_charged_what_it_used_when_it_ends(
    plugin: SlurmCluster, service: Service
) -> None:
    done = plugin.sbatch("-A", "chem", "-p", "cpu", "-n", "2", "-t", "10", "--wrap", "sleep 4", user="daemon")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    reserved = service.lien_of(plugin, job_id)
    assert reserved is not None and reserved.job_id is None  # Slurm had no job id yet at submission
    plugin.wait_job_state(job_id, "RUNNING")

    running = sync(plugin, service)
    assert running["counts"].get("started") == 1, running  # type: ignore[attr-defined]
    with service.ledger().session() as tx:
        lien = tx.get_lien(reserved.id)
    assert lien is not None and (lien.state, lien.job_id) == (LienState.RUNNING, job_id)
    assert lien.started_at is not None

    assert wait_recorded(plugin, job_id) == "completed"
    report = sync(plugin, service)
    with service.ledger().session() as tx:
        lien = tx.get_lien(reserved.id)
        charges = tx.charges_for_lien(reserved.id)
    assert lien is not None and lien.state == LienState.FINISHED, report
    used = recorded_cpu_hours(plugin, jobs=job_id)[job_id]
    assert used > 0 and len(charges) == 1
    assert charges[0].amounts.cpu_hours == pytest.approx(used)  # not the 2 CPUs × 10 min reserved


def test_lien_of_a_job_cancelled_while_held_is_released(plugin: SlurmCluster, service: Service) -> None:
    done = plugin.sbatch("-A", "chem", "-p", "cpu", "-n", "1", "-t", "10", "--hold", "--wrap", "true", user="daemon")
    job_id = done.stdout.strip()
    lien = service.lien_of(plugin, job_id)
    assert lien is not None
    sync(plugin, service)  # held: never eligible, so only the controller knows it; it binds the lien, kept
    with service.ledger().session() as tx:
        assert tx.get_lien(lien.id) == replace(lien, job_id=job_id)
    plugin.run("scancel", job_id)
    assert wait_recorded(plugin, job_id) == "cancelled"

    report = sync(plugin, service)
    with service.ledger().session() as tx:
        released = tx.get_lien(lien.id)
        assert released is not None and released.state == LienState.CANCELLED, report
        assert tx.charges_for_lien(lien.id) == []


def test_lien_of_a_job_slurm_refused_after_the_hook_expires(plugin: SlurmCluster, service: Service) -> None:
    """The policy admits the job, Slurm then refuses it (no such node): no job id, no accounting record."""
    refused = plugin.sbatch("-A", "chem", "-p", "cpu", "-t", "10", "-w", "no-such-node", "--wrap", "true",
                            user="daemon")  # fmt: skip
    assert refused.returncode != 0 and "hpcpolicy" not in refused.stderr
    with service.ledger().session() as tx:
        orphans = [lien for lien in tx.open_liens("user:daemon") if lien.job_id is None]
    assert len(orphans) == 1

    report = sync(plugin, service)
    assert report["counts"].get("expired") == 1, report  # type: ignore[attr-defined]
    with service.ledger().session() as tx:
        assert tx.get_lien(orphans[0].id).state == LienState.EXPIRED  # type: ignore[union-attr]


def test_job_that_bypassed_the_hook_is_charged_on_its_account(plugin: SlurmCluster, service: Service) -> None:
    plugin.install_plugin(service.plugin(url=f"http://127.0.0.1:{free_port()}", fail_open=True))
    done = plugin.sbatch("-A", "chem", "-p", "cpu", "-n", "1", "-t", "5", "--wrap", "sleep 1", user="daemon")
    assert done.returncode == 0, done.stderr  # fail-open: accepted without a decision, so without a lien
    job_id = done.stdout.strip()
    assert plugin.job_field(job_id, "AdminComment") == ""
    assert wait_recorded(plugin, job_id) == "completed"
    plugin.install_plugin(service.plugin())

    first = sync(plugin, service)
    with service.ledger().session() as tx:
        charge = tx.find_charge(f"slurm:testcluster:{job_id}")
    assert first["counts"].get("unhooked", 0) >= 1  # type: ignore[attr-defined]
    assert charge is not None and charge.lien_id is None
    assert (charge.user_id, charge.project, charge.team, charge.org) == ("daemon", "chem", "chemistry", "lab")
    assert charge.amounts.cpu_hours == pytest.approx(recorded_cpu_hours(plugin, jobs=job_id)[job_id])
    assert charge.amounts.cost == pytest.approx(charge.amounts.cpu_hours * 1.0)  # cpu rate 1.0

    second = sync(plugin, service)
    assert "unhooked" not in second["counts"]  # type: ignore[operator]


def test_project_balance_is_what_slurm_recorded_and_a_second_sync_changes_nothing(
    plugin: SlurmCluster, service: Service
) -> None:
    """After the jobs above: charged equals slurmdbd's CPU-hours for the account, nothing stays reserved."""
    first = sync(plugin, service)
    assert first["error"] is None and first["problems"] == [], first
    start, end = window_bounds(Period.monthly, datetime.now(UTC))
    with service.ledger().session() as tx:
        settled = tx.settled("project:chem", start, end)
        held, active = tx.reserved("project:chem", datetime.now(UTC))
    assert settled.cpu_hours > 0
    assert settled.cpu_hours == pytest.approx(sum(recorded_cpu_hours(plugin, accounts="chem").values()))
    assert held.cpu_hours == pytest.approx(0) and active.jobs == 0

    again = sync(plugin, service)
    assert set(again["counts"]) <= {"unchanged", "waiting"}, again  # type: ignore[arg-type]
    with service.ledger().session() as tx:
        assert tx.settled("project:chem", start, end) == settled
