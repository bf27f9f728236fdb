"""sbatch latency on a real single-node Slurm, without the job_submit plugin and with it.

Starts a throw-away cluster (the test harness in tests/slurm/cluster.py; root, Debian's Slurm packages,
installed if missing) and times ``sbatch --hold`` end to end as a user sees it (process start included),
in three configurations, each on a freshly started controller, taken in turn over ``--rounds`` rounds (the
machine's speed drifts by milliseconds within a minute here: three phases run one after the other once each
measured the drift as much as the plugin):

- ``none``: ``JobSubmitPlugins`` unset;
- ``lua-noop``: job_submit.lua that only returns SUCCESS (the cost of Slurm's Lua hook itself);
- ``hpcpolicy``: the generated plugin calling ``hpcpolicy serve`` on loopback (SQLite ledger, an API key,
  a lien reserved per job), as deployed.

    sudo .venv/bin/python benchmarks/sbatch.py [--jobs 100] [--rounds 5] [--warmup 5]

``--jobs`` per configuration, spread evenly over the rounds. Jobs are held, so the node's load does not
change between submissions; they are cancelled afterwards.
Target: the plugin adds at most 2 ms at p95 over ``none``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# benchmarks/http.py would shadow the standard library's http package (httpx needs it): put this folder
# last, and the repository first (the cluster harness lives with the tests).
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.append(sys.path.pop(0))
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from hpcpolicy.adapters.slurm.plugin import PluginConfig, render  # noqa: E402
from hpcpolicy.auth import SCOPE_DECIDE, SCOPE_REPORT, create_key  # noqa: E402
from tests.slurm.cluster import SlurmCluster, free_port, install_packages  # noqa: E402

NOOP = "function slurm_job_submit() return slurm.SUCCESS end\nfunction slurm_job_modify() return slurm.SUCCESS end\n"
SUBMIT = ("sbatch", "--parsable", "--hold", "-p", "cpu", "-t", "10", "--wrap", "true")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def submit_many(cluster: SlurmCluster, jobs: int, warmup: int) -> list[float]:
    """Milliseconds per sbatch, warm-up submissions excluded; every submission must succeed."""
    times = []
    for i in range(warmup + jobs):
        started = time.perf_counter()
        done = cluster.run(*SUBMIT, f"--chdir={cluster.jobs_dir}", "--output=/dev/null")
        elapsed = (time.perf_counter() - started) * 1000
        if done.returncode != 0:
            raise SystemExit(f"sbatch failed: {done.stderr.strip()}")
        if i >= warmup:
            times.append(elapsed)
    cluster.run("scancel", "--user=root")
    return times


def start_service(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    keys = data_dir / "keys.yaml"
    key, _ = create_key(keys, "slurmctld", [SCOPE_DECIDE, SCOPE_REPORT], may_assert_identity=True)
    key_file = data_dir / "slurmctld.key"
    key_file.write_text(key + "\n")
    port = free_port()
    env = os.environ | {"HPCPOLICY_KEYS_FILE": str(keys), "DEFAULT_CPU_HOURS": "1e12", "MAX_CONCURRENT_JOBS": "1000000"}
    cmd = [sys.executable, "-m", "hpcpolicy.cli.main", "serve", "--port", str(port), "--data-dir", str(data_dir),
           "--policy", str(REPO / "tests" / "slurm" / "policy.yaml"), "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return proc, url, key_file
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("hpcpolicy serve did not become ready")


def run_phase(base: Path, name: str, plugin: str | None, jobs: int, warmup: int) -> list[float]:
    cluster = SlurmCluster(base / name, with_dbd=False)
    try:
        cluster.start(plugin=plugin is not None)
        if plugin is not None:
            cluster.install_plugin(plugin)
        return submit_many(cluster, jobs, warmup)
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    if args.rounds < 1 or args.jobs < args.rounds:
        raise SystemExit("--rounds must be at least 1 and at most --jobs")
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark starts slurmctld, slurmd and munged")
    install_packages(with_dbd=False)
    base = Path(tempfile.mkdtemp(prefix="hpcpolicy-sbatch-bench-"))
    base.chmod(0o755)
    service_dir = base / "service"
    service_dir.mkdir()
    proc, url, key_file = start_service(service_dir)
    try:
        plugin = render(PluginConfig(url, 1.0, False, "testcluster", key_file))
        phases = {"none": None, "lua-noop": NOOP, "hpcpolicy": plugin}
        results: dict[str, list[float]] = {name: [] for name in phases}
        for round_ in range(args.rounds):
            jobs = args.jobs // args.rounds + (round_ < args.jobs % args.rounds)
            for name, script in phases.items():
                results[name] += run_phase(base, f"{name}-{round_}", script, jobs, args.warmup)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)
    baseline = results["none"]
    print(
        f"sbatch --hold, {args.jobs} submissions per row over {args.rounds} rounds "
        f"({args.warmup} warm-up per round not counted), milliseconds"
    )
    print(f"{'plugin':<10} {'mean':>7} {'p50':>7} {'p95':>7} {'max':>7} {'+mean':>7} {'+p95':>7}")
    for name, times in results.items():
        mean, p95 = statistics.fmean(times), percentile(times, 0.95)
        print(f"{name:<10} {mean:7.2f} {percentile(times, 0.5):7.2f} {p95:7.2f} {max(times):7.2f} "
              f"{mean - statistics.fmean(baseline):7.2f} {p95 - percentile(baseline, 0.95):7.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
