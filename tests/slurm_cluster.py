"""A real single-node Slurm cluster for the tests: munged, slurmctld and slurmd on localhost, in a temporary folder.

Debian's `slurm-wlm` and `munge` (`make install-slurm`) provide the daemons. The configuration has no cgroup
plugins (`proctrack/linuxproc`, `task/none`), so it runs in a container; munged gets a private socket so a system
munged, if any, is left alone. `SLURM_CONF` points the client commands (sbatch, squeue, scancel) at it.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel")
MISSING = (
    "SLURM TESTS SKIPPED: {missing} not installed. Install Debian's slurm-wlm and munge with `make install-slurm` "
    "(apt-get, as root); CI does."
)
CONFIG = """\
ClusterName=cursorcore-tests
SlurmctldHost=localhost
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=8192 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def missing_commands() -> list[str]:
    return [name for name in DAEMONS if not shutil.which(name)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SlurmCluster:
    """Start with `start()`, stop with `stop()`; `env` is what client commands need (`SLURM_CONF`)."""

    def __init__(self, root: Path, cpus: int = 4):
        self.root = root
        self.cpus = cpus  # more than this machine's cores is fine (config_overrides): tasks mostly wait on the LLM
        self.conf = root / "slurm.conf"
        self.processes: list[subprocess.Popen] = []

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def start(self, timeout: float = 60) -> "SlurmCluster":
        for folder in ("state", "spool", "munge"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "munge").chmod(0o755)
        user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
        self.conf.write_text(
            CONFIG.format(root=self.root, user=user, ctld_port=_free_port(), d_port=_free_port(), cpus=self.cpus)
        )
        munge = self.root / "munge"
        self._spawn(
            "munged",
            ["munged", "-F", "-f", f"--socket={munge}/munge.socket", f"--pid-file={munge}/munged.pid",
             f"--seed-file={munge}/munged.seed", f"--log-file={munge}/munged.log"],
        )  # fmt: skip
        self._wait(lambda: (munge / "munge.socket").exists(), timeout, "munged's socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "-N", "localhost", "-f", str(self.conf)])
        self._wait(self._node_idle, timeout, "the node to be idle")
        return self

    def stop(self) -> None:
        subprocess.run(["scancel", "--full", "--user", os.environ.get("USER", "root")], env=self._client_env())
        for process in reversed(self.processes):
            process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def _client_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.root / f"{name}.out", "w")
        self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))

    def _node_idle(self) -> bool:
        result = subprocess.run(
            ["sinfo", "--noheader", "--format", "%t"], capture_output=True, text=True, env=self._client_env()
        )
        return result.stdout.strip() == "idle"

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline or any(process.poll() is not None for process in self.processes):
                logs = "\n".join(
                    f"--- {path.name}\n{path.read_text()[-1500:]}" for path in sorted(self.root.glob("*.out"))
                )
                self.stop()
                raise RuntimeError(f"the test Slurm cluster did not come up (waiting for {what}):\n{logs}")
            time.sleep(0.5)
