"""``hpcpolicy slurm sync`` without a cluster: a recorded sacct dump through the CLI, and the watch loop
with stand-in sacct/squeue (a live Slurm is exercised in test_cluster_sync.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpcpolicy.adapters.slurm.admission import SlurmAdmission, SubmitIn, submit_key, token_of
from hpcpolicy.adapters.slurm.jobdesc import JobDesc
from hpcpolicy.adapters.slurm.sacct import SacctReader, SlurmUnavailable
from hpcpolicy.adapters.slurm.sync import Sources, Watermark, sync_window, watch
from hpcpolicy.cli.main import app
from hpcpolicy.engine import Amounts
from hpcpolicy.engine.windows import window_bounds
from hpcpolicy.ledger import LienState
from hpcpolicy.policy.schema import Period
from hpcpolicy.service import Governance
from hpcpolicy.service.reconcile import Reconciler, lien_by_key
from tests.ledger.conftest import sqlite_ledger
from tests.slurm.conftest import POLICY, fake_users

DUMP = Path(__file__).parent / "data" / "sacct_testcluster.out"
NOV = window_bounds(Period.monthly, datetime(2026, 11, 23, tzinfo=UTC))


def cli_sync(data_dir: Path, *args: str) -> tuple[int, dict[str, object], str]:
    done = CliRunner().invoke(app, ["slurm", "sync", "--data-dir", str(data_dir), "--policy", str(POLICY), "--json",
                                    *args])  # fmt: skip
    return done.exit_code, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


def test_a_dump_is_charged_once_however_often_it_is_synced(tmp_path: Path) -> None:
    ledger = sqlite_ledger(tmp_path)  # the service's database, migrated
    code, first, _ = cli_sync(tmp_path, "--file", str(DUMP))
    assert code == 0 and first["counts"] == {"unhooked": 7, "waiting": 2}  # no liens in this ledger
    code, second, _ = cli_sync(tmp_path, "--file", str(DUMP))
    assert code == 0 and second["counts"] == {"unchanged": 7, "waiting": 2}
    with ledger.session() as tx:
        gpu_job = tx.find_charge("slurm:testcluster:2")  # bin, 2 A100s for 1 s on partition gpu
        chem = tx.settled("project:chem", *NOV)
    assert gpu_job is not None and (gpu_job.user_id, gpu_job.project) == ("bin", "ml")
    assert gpu_job.amounts == Amounts(1 / 3600, 2 / 3600, pytest.approx(2 / 3600 + 20 / 3600))  # type: ignore[arg-type]
    assert chem.cpu_hours == pytest.approx((2 * 2 + 1 * 3) / 3600)  # job 1 (2 CPUs, 2 s) and job 5 (1 CPU, 3 s)
    ledger.engine.dispose()


def test_an_unreadable_dump_is_an_error(tmp_path: Path) -> None:
    sqlite_ledger(tmp_path).engine.dispose()
    code, _, err = cli_sync(tmp_path, "--file", str(tmp_path / "missing.out"))
    assert code == 1 and "cannot read" in err


class FakeSlurm:
    """sacct answers from the dump, except when told to fail; squeue from a given list of jobs."""

    def __init__(self, squeue: list[dict[str, object]] | None = None):
        self.windows: list[tuple[datetime, datetime]] = []
        self.fail_next = False
        self.squeue_jobs = squeue or []

    def sacct(self, since: datetime, until: datetime) -> str:
        self.windows.append((since, until))
        if self.fail_next:
            self.fail_next = False
            raise SlurmUnavailable("sacct failed (exit 1): slurmdbd not responding")
        return DUMP.read_text()

    def squeue(self) -> str:
        return json.dumps({"jobs": self.squeue_jobs})


def test_watch_moves_the_watermark_only_after_a_good_pass(gov: Governance, tmp_path: Path) -> None:
    slurm = FakeSlurm()
    state = Watermark(tmp_path / "state.json")
    times = iter([datetime(2026, 11, 23, 15, m, tzinfo=UTC) for m in (0, 1, 2)])
    waits = iter([True, True, False])
    slurm_down_after_first = iter([True, False, False])  # the second pass finds slurmdbd down
    reports = []

    def wait() -> bool:
        slurm.fail_next = next(slurm_down_after_first)
        return next(waits)

    start = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    watch(Reconciler(gov.ctx), SacctReader, state, first_since=start, overlap=timedelta(minutes=10),
          clock=lambda: next(times), wait=wait, report=reports.append,
          sources=Sources(sacct=slurm.sacct, controller=None))  # fmt: skip
    t0, t1, t2 = (datetime(2026, 11, 23, 15, m, tzinfo=UTC) for m in (0, 1, 2))
    assert slurm.windows == [(start, t0), (t0 - timedelta(minutes=10), t1), (t0 - timedelta(minutes=10), t2)]
    assert [r.error is None for r in reports] == [True, False, True]
    assert reports[0].counts["unhooked"] == 7 and reports[2].counts["unchanged"] == 7
    assert state.load() == t2


def test_a_live_pass_binds_from_the_controller_and_expires_what_it_no_longer_has(gov: Governance) -> None:
    def submit() -> str:
        desc = JobDesc(user_id=1, partition="cpu", num_tasks=1, time_limit=30)
        reply = SlurmAdmission(gov, fake_users).submit(SubmitIn(job=desc, cluster="testcluster"), "slurmctld")
        return token_of(reply.admin_comment) or ""

    alive, gone = submit(), submit()
    slurm = FakeSlurm(squeue=[{"job_id": 77, "job_state": "PENDING", "user_name": "daemon",
                               "admin_comment": f"hpcpolicy:{alive}"}])  # fmt: skip
    now = gov.ctx.clock() + timedelta(minutes=10)
    report = sync_window(Reconciler(gov.ctx), now - timedelta(hours=1), now, SacctReader(),
                         Sources(sacct=slurm.sacct, controller=slurm.squeue, grace=timedelta(minutes=5)))  # fmt: skip
    assert report.error is None and (report.counts["bound"], report.counts["expired"]) == (1, 1)
    with gov.ctx.ledger.session() as tx:
        bound = next(iter(tx.find_liens_by_job("77")), None)
        expired = lien_by_key(tx, submit_key(gone))
    assert bound is not None and bound.state == LienState.RESERVED
    assert bound == lien_by_key_in(gov, alive)
    assert expired is not None and expired.state == LienState.EXPIRED


def lien_by_key_in(gov: Governance, token: str) -> object:
    with gov.ctx.ledger.session() as tx:
        return lien_by_key(tx, submit_key(token))


def test_an_unreadable_state_file_is_reported_not_guessed(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="unreadable sync state"):
        Watermark(path).load()
    assert Watermark(tmp_path / "absent.json").load() is None


def test_jobs_that_just_ended_wait_for_their_record_to_settle(gov: Governance) -> None:
    slurm = FakeSlurm()
    sources = Sources(sacct=slurm.sacct, controller=None, settle=timedelta(minutes=1))
    rec, since = Reconciler(gov.ctx), datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    at_end = datetime(2026, 11, 23, 14, 9, tzinfo=UTC)  # the dump's jobs ended 14:08:34 to 14:08:36
    early = sync_window(rec, since, at_end, SacctReader(), sources)
    assert dict(early.counts) == {"settling": 7, "waiting": 2}
    later = sync_window(rec, since, at_end, SacctReader(), sources, now=at_end + timedelta(minutes=1))
    assert dict(later.counts) == {"unhooked": 7, "waiting": 2}  # the same window, applied once settled
