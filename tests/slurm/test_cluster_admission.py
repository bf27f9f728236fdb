"""A real slurmctld with the generated plugin: sbatch and scontrol update judged by the policy.

Users are Debian system accounts submitting with ``runuser``, so Slurm reports their own uid and gid:
daemon (no GPU role), bin (gpu_user through its Unix group ``bin``, no dgx_access), sys (project
``tiny``, 1 CPU-hour a month). See tests/slurm/policy.yaml.
"""

from __future__ import annotations

import pytest

from hpcpolicy.ledger import LienState
from tests.slurm.cluster import SlurmCluster, free_port
from tests.slurm.conftest import Service

pytestmark = pytest.mark.slurm_cluster


def rejected(done: object) -> str:
    assert getattr(done, "returncode", 0) != 0, f"sbatch accepted the job: {getattr(done, 'stdout', '')}"
    return str(getattr(done, "stderr", ""))


def test_gpu_job_without_the_gpu_role_is_rejected_with_the_reason(plugin: SlurmCluster) -> None:
    stderr = rejected(plugin.sbatch("-p", "gpu", "--gres=gpu:a100:1", "-t", "10", "--wrap", "true", user="daemon"))
    assert "sbatch: error: hpcpolicy: job rejected by policy slurm-test@" in stderr
    assert "gpu.role_required: GPU jobs require role gpu_user [user:daemon; limit gpu_user, requested 1" in stderr
    assert "Access/permission denied" in stderr  # ESLURM_ACCESS_DENIED


def test_dgx_partition_without_the_role_is_rejected_though_the_group_grants_gpus(plugin: SlurmCluster) -> None:
    stderr = rejected(plugin.sbatch("-p", "dgx-a100", "--gpus=1", "-t", "10", "--wrap", "true", user="bin"))
    assert "partition.role_required" in stderr and "dgx_access" in stderr
    assert "gpu.role_required" not in stderr  # gpu_user came from the Unix group 'bin'


def test_gpu_job_of_a_group_member_is_accepted(plugin: SlurmCluster, service: Service) -> None:
    done = plugin.sbatch("-p", "gpu", "--gres=gpu:a100:2", "-t", "30", "--hold", "--wrap", "true", user="bin")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    lien = service.lien_of(plugin, job_id)
    assert lien is not None and lien.state == LienState.RESERVED
    assert (lien.user_id, lien.project, lien.partition, lien.gpus, lien.gpu_type) == ("bin", "ml", "gpu", 2, "a100")
    assert lien.amounts.gpu_hours == pytest.approx(1.0)  # 2 GPUs × 30 min
    plugin.run("scancel", job_id)


def test_job_over_the_project_budget_is_rejected_with_the_numbers(plugin: SlurmCluster) -> None:
    done = plugin.sbatch("-A", "tiny", "-p", "cpu", "-n", "2", "-t", "60", "--wrap", "true", user="sys")
    stderr = rejected(done)
    assert "quota.cpu_hours_exceeded" in stderr
    assert "[project:tiny; limit 1, requested 2, available 1]" in stderr
    assert "Job violates accounting/QOS policy" in stderr  # ESLURM_ACCOUNTING_POLICY


def test_job_without_partition_gets_the_route_and_project_written_back(plugin: SlurmCluster) -> None:
    done = plugin.sbatch("-n", "1", "-t", "5", "--hold", "--wrap", "true", user="daemon")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert plugin.job_field(job_id, "Partition") == "cpu"  # Slurm's own default is gpu
    assert plugin.job_field(job_id, "Account") == "chem"  # daemon's default project
    assert plugin.job_field(job_id, "AdminComment").startswith("hpcpolicy:")
    plugin.run("scancel", job_id)


def test_update_that_raises_the_time_limit_is_checked_and_the_lien_follows(
    plugin: SlurmCluster, service: Service
) -> None:
    done = plugin.sbatch("-A", "tiny", "-p", "cpu", "-n", "1", "-t", "30", "--hold", "--wrap", "true", user="sys")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    # 2 h on 1 CPU is over tiny's 1 CPU-hour even with this job's own 0.5 h lien left out
    refused = plugin.run("scontrol", "update", f"job={job_id}", "TimeLimit=02:00:00")
    assert refused.returncode != 0
    assert "Job violates accounting/QOS policy" in refused.stderr  # 22.05 shows no user lines on updates
    assert "[project:tiny; limit 1, requested 2, available 1]" in plugin.log_text("slurmctld")
    assert plugin.job_field(job_id, "TimeLimit") == "00:30:00"
    # 50 min fits once the job's own lien is left out (it alone would not fit on top of it)
    allowed = plugin.run("scontrol", "update", f"job={job_id}", "TimeLimit=00:50:00")
    assert allowed.returncode == 0, allowed.stderr
    assert plugin.job_field(job_id, "TimeLimit") == "00:50:00"
    with service.ledger().session() as tx:
        lien = next(iter(tx.find_liens_by_job(job_id)), None)
    assert lien is not None and lien.state == LienState.RESERVED
    assert lien.amounts.cpu_hours == pytest.approx(50 / 60)
    assert service.lien_of(plugin, job_id) == lien  # the job's token now names the new lien
    plugin.run("scancel", job_id)


def test_updates_the_policy_does_not_judge_need_no_service(plugin: SlurmCluster, service: Service) -> None:
    done = plugin.sbatch("-p", "cpu", "-t", "5", "--hold", "--wrap", "true", user="daemon")
    job_id = done.stdout.strip()
    plugin.install_plugin(service.plugin(url=f"http://127.0.0.1:{free_port()}"))  # nothing listens there
    assert plugin.run("scontrol", "update", f"job={job_id}", "Name=renamed").returncode == 0
    assert plugin.job_field(job_id, "JobName") == "renamed"
    # a time limit is the policy's business: with the service gone the update fails closed
    assert plugin.run("scontrol", "update", f"job={job_id}", "TimeLimit=00:03:00").returncode != 0
    assert plugin.job_field(job_id, "TimeLimit") == "00:05:00"
    plugin.run("scancel", job_id)
