"""The policy service down or hung, with a real slurmctld: fail closed by default, open when configured,
and a hung service costs at most the plugin's timeout while the controller keeps answering."""

from __future__ import annotations

import subprocess

import pytest

from tests.slurm.cluster import SlurmCluster, free_port
from tests.slurm.conftest import HungService, Service

pytestmark = pytest.mark.slurm_cluster


def test_service_down_fails_closed_by_default(plugin: SlurmCluster, service: Service) -> None:
    plugin.install_plugin(service.plugin(url=f"http://127.0.0.1:{free_port()}"))
    done = plugin.sbatch("-p", "cpu", "-t", "5", "--wrap", "true", user="daemon")
    assert done.returncode != 0
    assert "hpcpolicy: job rejected: the policy service is unavailable (cannot connect to" in done.stderr
    assert "this cluster fails closed" in done.stderr


def test_service_down_fails_open_when_so_generated(plugin: SlurmCluster, service: Service) -> None:
    plugin.install_plugin(service.plugin(url=f"http://127.0.0.1:{free_port()}", fail_open=True))
    done = plugin.sbatch("-p", "cpu", "-t", "5", "--hold", "--wrap", "true", user="daemon")
    assert done.returncode == 0, done.stderr
    assert "accepted without a policy decision (fail-open)" in plugin.log_text("slurmctld")
    plugin.run("scancel", done.stdout.strip())


@pytest.mark.parametrize("fail_open", [False, True], ids=["fail-closed", "fail-open"])
def test_hung_service_costs_the_timeout_and_the_controller_keeps_answering(
    plugin: SlurmCluster, service: Service, hung_service: HungService, fail_open: bool
) -> None:
    plugin.install_plugin(service.plugin(url=f"http://127.0.0.1:{hung_service.port}", timeout=0.5,
                                         fail_open=fail_open))  # fmt: skip
    hung_service.accepted.clear()
    args = ["runuser", "-u", "daemon", "--", "sbatch", "--parsable", f"--chdir={plugin.jobs_dir}", "-p", "cpu",
            "-t", "5", "--hold", "--wrap", "true"]  # fmt: skip
    submit = subprocess.Popen(args, env=plugin.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert hung_service.accepted.wait(30), "the plugin never called the service"
        # the hook is now blocked inside slurmctld: other clients must still be answered
        info = plugin.run("sinfo", "-h", "-o", "%P %T", timeout=30)
        ping = plugin.run("scontrol", "ping", timeout=30)
        out, err = submit.communicate(timeout=30)
    finally:
        submit.kill()
    assert info.returncode == 0 and "cpu" in info.stdout
    assert ping.returncode == 0 and "UP" in ping.stdout
    if fail_open:
        assert submit.returncode == 0, err
        plugin.run("scancel", out.strip())
    else:
        assert submit.returncode != 0
        assert "policy service is unavailable (timed out after 0.5 s)" in err
    assert "timed out after 0.5 s" in plugin.log_text("slurmctld")
