"""A throwaway one-node SLURM cluster in a temporary folder: munged, slurmctld and slurmd of this machine.

No accounting database runs, so job status is read with squeue; MinJobAge is a day, so slurmctld keeps
every finished job and `scontrol show job` is a complete record of the run. The node offers one `gpu`
gres backed by /dev/null, so GPU requests are scheduled on a machine without a GPU. Nothing is
written outside the folder, and the daemons listen on free ports, so a system SLURM is left alone.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "squeue", "scontrol", "scancel", "sinfo")
DEBIAN_PACKAGES = ("slurm-wlm", "munge")
PARTITIONS = ("cpu", "gpu")  # the partition names profiles/slurm/config.yaml asks for
NODE_NAME = "node1"
# The node is declared with at least these resources (config_overrides): without cgroups nothing is
# enforced, and the profile's site-sized requests must fit a small CI machine.
MIN_CPUS = 4
NODE_MEMORY_MB = 64000
START_TIMEOUT_S = 60


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be installed or started here; the message says why."""


def missing_commands() -> list[str]:
    return [name for name in (*DAEMONS, *CLIENTS) if shutil.which(name) is None]


def free_ports(count: int) -> list[int]:
    """Ports free right now on localhost (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for held in sockets:
            held.bind(("127.0.0.1", 0))
        return [held.getsockname()[1] for held in sockets]
    finally:
        for held in sockets:
            held.close()


def slurm_conf(root: Path, controller_host: str, ports: list[int]) -> str:
    cpus = max(os.cpu_count() or 1, MIN_CPUS)
    partitions = "\n".join(f"PartitionName={name} Nodes={NODE_NAME} Default={'YES' if i == 0 else 'NO'} "
                           "MaxTime=INFINITE State=UP" for i, name in enumerate(PARTITIONS))
    return f"""\
ClusterName=diffseg-test
SlurmctldHost={controller_host}(127.0.0.1)
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root / "munge.socket"}
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "slurmctld.pid"}
SlurmdPidFile={root / "slurmd.pid"}
SlurmctldLogFile={root / "slurmctld.log"}
SlurmdLogFile={root / "slurmd.log"}
SlurmctldDebug=info
SlurmdDebug=info
# Containers often lack a writable cgroup tree: track processes without it, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root / "jobcomp.log"}
# Finished jobs stay in slurmctld for a day: squeue reports their end state to Snakemake, and
# `scontrol show job` keeps the record the test reads.
MinJobAge=86400
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
MailProg=/bin/true
NodeName={NODE_NAME} NodeHostname={controller_host} NodeAddr=127.0.0.1 \
CPUs={cpus} RealMemory={NODE_MEMORY_MB} Gres=gpu:1 State=UNKNOWN
{partitions}
"""


@dataclass
class SlurmCluster:
    """The cluster's folder and daemons; `start()` brings it up, `stop()` ends every daemon it started."""

    root: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    daemon_outputs: list = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment a SLURM client (sbatch, squeue, Snakemake) needs to reach this cluster."""
        path = f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "SLURM_CONF": str(self.conf), "PATH": path}

    def start(self) -> None:
        missing = missing_commands()
        if missing:
            raise SlurmUnavailable(f"not installed: {', '.join(missing)} "
                                   f"(Debian packages: {' '.join(DEBIAN_PACKAGES)})")
        self._write_config()
        try:
            self._start_munged()
            self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
            self._spawn("slurmd", ["slurmd", "-D", "-N", NODE_NAME, "-f", str(self.conf)])
            self._wait_for_idle_node()
        except BaseException:
            self.stop()
            raise

    def _write_config(self) -> None:
        for folder in ("state", "spool"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(slurm_conf(self.root, socket.gethostname().split(".")[0], free_ports(2)))
        # slurmd reads gres.conf beside slurm.conf; /dev/null stands in for the GPU device.
        (self.root / "gres.conf").write_text(f"NodeName={NODE_NAME} Name=gpu Count=1 File=/dev/null\n")
        self._write_srun_shim()

    def _write_srun_shim(self) -> None:
        """An `srun` first on PATH that puts SLURM_CONF back before running the real one.

        snakemake-executor-plugin-slurm-jobstep (0.6.1) removes every SLURM_* variable but a few job
        ids from the environment of the srun it starts inside a job, SLURM_CONF included; with the
        configuration outside /etc/slurm that srun would find no cluster.
        """
        shim = self.root / "bin" / "srun"
        shim.parent.mkdir(exist_ok=True)
        shim.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{shutil.which("srun")}" "$@"\n')
        shim.chmod(0o755)

    def _start_munged(self) -> None:
        key = self.root / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self._spawn("munged", ["munged", "--foreground", "--force", f"--socket={self.root / 'munge.socket'}",
                               f"--key-file={key}", f"--pid-file={self.root / 'munged.pid'}",
                               f"--log-file={self.root / 'munged.log'}",
                               f"--seed-file={self.root / 'munged.seed'}"])
        self._wait_until(lambda: (self.root / "munge.socket").exists(), "munged to open its socket")

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.root / f"{name}.out", "w")  # open while the daemon runs; closed by stop()
        self.daemon_outputs.append(log)
        self.processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                env=self.env, start_new_session=True)

    def _wait_for_idle_node(self) -> None:
        def node_idle() -> bool:
            result = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True,
                                    env=self.env, timeout=10)
            return result.returncode == 0 and result.stdout.strip().startswith("idle")

        self._wait_until(node_idle, f"node {NODE_NAME} to be idle")

    def _wait_until(self, ready, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            dead = [name for name, process in self.processes.items() if process.poll() is not None]
            if dead:
                raise SlurmUnavailable(f"{', '.join(dead)} exited while waiting for {what}:\n"
                                       f"{self.logs_tail()}")
            if ready():
                return
            time.sleep(0.5)
        raise SlurmUnavailable(f"timed out after {START_TIMEOUT_S} s waiting for {what}:\n{self.logs_tail()}")

    def logs_tail(self, lines: int = 15) -> str:
        """The last lines of every daemon's log, for a message that says why the cluster failed."""
        parts = []
        for log in sorted(self.root.glob("*.out")):  # a daemon's stderr: also what it said before logging
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel leftover jobs, then end the daemons in reverse order of start."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", "--quiet", "--user", str(os.getuid())], env=self.env,
                           capture_output=True, timeout=30)
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        while self.daemon_outputs:
            self.daemon_outputs.pop().close()

    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld knows (all of this run's, as MinJobAge keeps them), as key=value fields."""
        result = subprocess.run(["scontrol", "show", "job", "--oneliner", "--details"], capture_output=True,
                                text=True, env=self.env, timeout=30, check=True)
        return [parse_fields(line) for line in result.stdout.splitlines() if line.startswith("JobId=")]

    def completion_records(self) -> list[dict[str, str]]:
        """The jobcomp/filetxt log: one line of key=value fields per finished job."""
        path = self.root / "jobcomp.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [parse_fields(line) for line in lines if line.strip()]

    def submitted_batch_job_ids(self) -> set[str]:
        """Job ids slurmctld logged as received through the batch-submission RPC (what sbatch sends)."""
        log = (self.root / "slurmctld.log").read_text(errors="replace")
        return set(re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", log))


def parse_fields(line: str) -> dict[str, str]:
    """`Key=value Key2=value with spaces ...` as SLURM prints it; a value runs to the next ` Key=`."""
    pairs = re.findall(r"(?:^|\s)([A-Za-z_:/]+)=(.*?)(?=\s[A-Za-z_:/]+=|$)", line.strip())
    return dict(pairs)
