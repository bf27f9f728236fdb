"""A throw-away single-node Slurm 22.05 cluster (Debian packages) for tests and the sbatch benchmark.

Everything lives under one base directory: configuration, spool, logs, a private munge key and socket,
fake GPU device files. Ports are chosen free at start, so two clusters (two engineers, a test run and a
benchmark) do not collide on one machine; accounting uses a database of its own on the local MariaDB,
dropped at stop. Each daemon writes a PID file under ``run/`` and :meth:`SlurmCluster.stop` ends exactly
those processes, in reverse start order, by PID.

Every Slurm command here gets ``SLURM_CONF`` in its environment: without it Slurm looks for its
controller through DNS and sends queries off the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("munge", "slurmctld", "slurmd", "slurm-client", "slurm-wlm-basic-plugins", "lua-socket", "lua-cjson")
DBD_PACKAGES = ("slurmdbd",)
MARIADB = ("mariadb", "--no-defaults", "-h127.0.0.1", "-P3306", "-uroot")
CPUS, GPUS = 8, 4
#: Start order; stop goes backwards.
DAEMONS = ("munged", "slurmdbd", "slurmctld", "slurmd")


class ClusterError(RuntimeError):
    """The cluster could not be installed or started; the message carries the daemon's log tail."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing_packages(with_dbd: bool) -> list[str]:
    wanted = [*PACKAGES, *(DBD_PACKAGES if with_dbd else ())]
    return [p for p in wanted if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]


def install_packages(with_dbd: bool) -> None:
    """apt-get install what is missing (root only); a no-op when everything is there."""
    missing = missing_packages(with_dbd)
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ClusterError(f"Slurm packages missing ({' '.join(missing)}) and cannot install them (need root + apt)")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise ClusterError(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")


def mariadb_answers() -> bool:
    if shutil.which("mariadb") is None:
        return False
    return subprocess.run([*MARIADB, "-e", "select 1"], capture_output=True, timeout=10).returncode == 0


@dataclass
class SlurmCluster:
    base: Path
    with_dbd: bool
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    ports: dict[str, int] = field(default_factory=dict)
    db_name: str = ""

    @property
    def conf(self) -> Path:
        return self.base / "etc" / "slurm.conf"

    @property
    def lua_path(self) -> Path:
        return self.base / "etc" / "job_submit.lua"

    @property
    def jobs_dir(self) -> Path:
        return self.base / "jobs"

    @property
    def env(self) -> dict[str, str]:
        return os.environ | {"SLURM_CONF": str(self.conf), "TZ": "UTC"}

    # -- commands -------------------------------------------------------------------------------------
    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=timeout)

    def sbatch(self, *args: str, user: str = "root", timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``sbatch --parsable`` run as ``user`` (``runuser``: Slurm sees that user's own uid and gid)."""
        who = [] if user == "root" else ["runuser", "-u", user, "--"]
        out = str(self.jobs_dir / "%j.out")
        return self.run(*who, "sbatch", "--parsable", f"--chdir={self.jobs_dir}", f"--output={out}", *args,
                        timeout=timeout)  # fmt: skip

    def job_field(self, job_id: str, name: str) -> str:
        """One ``Key=Value`` of ``scontrol show job`` (empty if the job is gone)."""
        shown = self.run("scontrol", "-o", "show", "job", job_id).stdout
        for item in shown.split():
            key, _, value = item.partition("=")
            if key == name:
                return value
        return ""

    def wait_job_state(self, job_id: str, state: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.job_field(job_id, "JobState") != state:
            if time.monotonic() > deadline:
                raise ClusterError(f"job {job_id} not {state} within {timeout} s")
            time.sleep(0.1)

    def wait_job_done(self, job_id: str, timeout: float = 60) -> str:
        """Wait until ``sacct`` (or the controller) reports the job ended; return its state."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            if self.with_dbd:
                rows = self.run("sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State,End").stdout.splitlines()
                if rows and rows[0].split("|")[1] not in ("", "Unknown"):
                    return rows[0].split("|")[0].split(" ")[0]  # "CANCELLED by 0"
            else:
                state = self.job_field(job_id, "JobState")
                if state not in ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING"):
                    return state
            time.sleep(0.2)
        raise ClusterError(f"job {job_id} did not finish within {timeout} s (last state {state!r})")

    def log_text(self, daemon: str) -> str:
        return (self.base / "log" / f"{daemon}.log").read_text(errors="replace")

    def install_plugin(self, text: str) -> None:
        """Write job_submit.lua and give it a fresh, later mtime: slurmctld reloads when the mtime grows."""
        previous = self.lua_path.stat().st_mtime if self.lua_path.exists() else time.time()
        self.lua_path.write_text(text, encoding="utf-8")
        stamp = max(time.time(), previous) + 1
        os.utime(self.lua_path, (stamp, stamp))

    # -- life cycle -----------------------------------------------------------------------------------
    def start(self, *, plugin: bool = True, default_partition: str = "cpu") -> None:
        if self.base.exists():
            shutil.rmtree(self.base)
        for sub in ("etc", "run", "log", "spool/ctld", "spool/d", "dev", "jobs", "munge/etc", "munge/lib"):
            (self.base / sub).mkdir(parents=True)
        self.base.chmod(0o755)  # jobs run as other users: they must reach jobs/ through it
        self.jobs_dir.chmod(0o1777)
        for i in range(GPUS):
            (self.base / "dev" / f"nvidia{i}").symlink_to("/dev/null")  # fake GPUs: gres needs device files
        self.ports = {"ctld": free_port(), "d": free_port(), "dbd": free_port()}
        self._start_munge()
        if self.with_dbd:
            self._start_dbd()
        self._write_slurm_conf(plugin, default_partition)
        if not self.lua_path.exists():
            self.install_plugin("function slurm_job_submit() return slurm.SUCCESS end\n"
                                "function slurm_job_modify() return slurm.SUCCESS end\n")  # fmt: skip
        self._daemon("slurmctld", ["slurmctld", "-c"], lambda: self.run("scontrol", "ping").returncode == 0)
        self._daemon("slurmd", ["slurmd", "-N", self.node], self._node_idle)

    def associate(self, accounts: dict[str, list[str]]) -> None:
        """Accounting associations (user → accounts). Without one slurmdbd first records a job as root's,
        with no account, and corrects it seconds later: a sync in between would charge root."""
        names = sorted({a for accts in accounts.values() for a in accts})
        commands = [["add", "account", ",".join(names)]]
        commands += [["add", "user", user, f"account={','.join(accts)}"] for user, accts in accounts.items()]
        for args in commands:
            done = self.run("sacctmgr", "-i", *args)
            if done.returncode != 0 and "Nothing new added" not in done.stdout + done.stderr:
                raise ClusterError(f"sacctmgr {' '.join(args)}: {done.stdout}{done.stderr}")

    def stop(self) -> list[str]:
        """Stop every daemon this cluster started (by PID file, reverse order); drop its accounting DB."""
        stopped = []
        for name in reversed(DAEMONS):
            pid_file = self.base / "run" / f"{name}.pid"
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            if _is_daemon(pid, name) and _terminate(pid):  # a stale PID file may name someone else's process
                stopped.append(name)
        if self.db_name and mariadb_answers():
            subprocess.run([*MARIADB, "-e", f"DROP DATABASE IF EXISTS {self.db_name}"], capture_output=True)
        return stopped

    # -- internals ------------------------------------------------------------------------------------
    def _daemon(self, name: str, cmd: Sequence[str], ready: Callable[[], bool]) -> None:
        done = self.run(*cmd)
        if done.returncode != 0:
            raise ClusterError(f"{name} failed to start: {done.stderr}{self._tail(name)}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.1)
        raise ClusterError(f"{name} did not become ready in 30 s{self._tail(name)}")

    def _tail(self, name: str) -> str:
        log = self.base / "log" / f"{name}.log"
        return "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else ""

    def _node_idle(self) -> bool:
        state = self.run("sinfo", "-h", "-n", self.node, "-o", "%T").stdout.strip()
        return state == "idle"

    @property
    def munge_socket(self) -> Path:
        return self.base / "munge" / "munge.socket"

    def _start_munge(self) -> None:
        key = self.base / "munge" / "etc" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        for sub in ("etc", "lib"):
            (self.base / "munge" / sub).chmod(0o700)
        (self.base / "munge").chmod(0o755)
        cmd = ["munged", "--force", "-S", str(self.munge_socket), f"--key-file={key}",
               f"--log-file={self.base / 'log' / 'munged.log'}", f"--pid-file={self.base / 'run' / 'munged.pid'}",
               f"--seed-file={self.base / 'munge' / 'lib' / 'munged.seed'}"]  # fmt: skip
        self._daemon("munged", cmd, self.munge_socket.exists)

    def _start_dbd(self) -> None:
        if not mariadb_answers():
            raise ClusterError("accounting needs MariaDB on 127.0.0.1:3306 (root, no password); it does not answer")
        self.db_name = f"slurm_acct_hpcpolicy_{os.getpid()}_{self.ports['dbd']}"
        conf = self.base / "etc" / "slurmdbd.conf"
        conf.write_text(
            f"AuthType=auth/munge\nAuthInfo=socket={self.munge_socket}\nDbdHost={self.node}\nDbdAddr=127.0.0.1\n"
            f"DbdPort={self.ports['dbd']}\nSlurmUser=root\nLogFile={self.base / 'log' / 'slurmdbd.log'}\n"
            f"PidFile={self.base / 'run' / 'slurmdbd.pid'}\nDebugLevel=info\n"
            "StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\nStoragePort=3306\nStorageUser=root\n"
            f"StorageLoc={self.db_name}\n"
        )
        conf.chmod(0o600)
        log = self.base / "log" / "slurmdbd.log"
        self._write_slurm_conf(plugin=False, default_partition="cpu")  # slurmdbd reads slurm.conf too
        self._daemon("slurmdbd", ["slurmdbd"], lambda: log.exists() and "started" in log.read_text(errors="replace"))

    def _write_slurm_conf(self, plugin: bool, default_partition: str) -> None:
        b, p = self.base, self.ports
        mem = _memory_mb()
        if self.with_dbd:
            accounting = (
                f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\n"
                f"AccountingStoragePort={p['dbd']}\nAccountingStoragePass={self.munge_socket}\n"
                "AccountingStorageTRES=gres/gpu,gres/gpu:a100\n"
            )
        else:
            accounting = "AccountingStorageType=accounting_storage/none\n"
        partitions = "".join(
            f"PartitionName={name} Nodes={self.node} MaxTime=INFINITE State=UP"
            f"{' Default=YES' if name == default_partition else ''}\n"
            for name in ("cpu", "gpu", "dgx-a100")
        )
        self.conf.write_text(
            f"ClusterName=testcluster\nSlurmctldHost={self.node}(127.0.0.1)\nSlurmUser=root\nSlurmdUser=root\n"
            f"SlurmctldPort={p['ctld']}\nSlurmdPort={p['d']}\nAuthType=auth/munge\nCredType=cred/munge\n"
            f"AuthInfo=socket={self.munge_socket}\nStateSaveLocation={b / 'spool/ctld'}\n"
            f"SlurmdSpoolDir={b / 'spool/d'}\nSlurmctldPidFile={b / 'run/slurmctld.pid'}\n"
            f"SlurmdPidFile={b / 'run/slurmd.pid'}\nSlurmctldLogFile={b / 'log/slurmctld.log'}\n"
            f"SlurmdLogFile={b / 'log/slurmd.log'}\nSlurmctldDebug=info\nSlurmdDebug=info\n"
            f"PlugStackConfig={b / 'etc/plugstack.conf'}\nMailProg=/bin/true\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nJobAcctGatherType=jobacct_gather/linux\n"
            "JobAcctGatherFrequency=5\nMpiDefault=none\nSwitchType=switch/none\nSchedulerType=sched/backfill\n"
            "SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000\n"
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core_Memory\nDefMemPerCPU=100\n"
            "ReturnToService=2\nMinJobAge=600\nKillWait=5\nSlurmdParameters=config_overrides\nGresTypes=gpu\n"
            + ("JobSubmitPlugins=lua\n" if plugin else "")
            + accounting
            + f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={CPUS} Boards=1 SocketsPerBoard=1 "
            f"CoresPerSocket={CPUS} ThreadsPerCore=1 RealMemory={mem} Gres=gpu:a100:{GPUS} State=UNKNOWN\n"
            + partitions
        )
        (b / "etc" / "gres.conf").write_text(
            f"NodeName={self.node} Name=gpu Type=a100 File={b / 'dev'}/nvidia[0-{GPUS - 1}]\n"
        )
        (b / "etc" / "plugstack.conf").write_text("")


def _memory_mb() -> int:
    with open("/proc/meminfo") as meminfo:
        total_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    return min(total_kb // 1024 * 8 // 10, 64000)


def _is_daemon(pid: int, name: str) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == name
    except OSError:
        return False


def _terminate(pid: int) -> bool:
    """SIGTERM, wait up to 10 s, then SIGKILL. False if no such process."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True
