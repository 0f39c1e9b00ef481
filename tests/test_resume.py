"""kill -9 during training and during extraction, then the same command: the run finishes, keeps
what was done, and its results equal those of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import miniature_workdir, run_snakemake, snakemake_command

pytestmark = pytest.mark.pipeline


def start(workdir: Path, *targets: str) -> tuple[subprocess.Popen, Path]:
    """The run in its own process group, so a kill reaches Snakemake and its jobs, as a crash would."""
    log_path = workdir / f"run-{time.monotonic_ns()}.log"
    with open(log_path, "w") as log:
        run = subprocess.Popen(snakemake_command(workdir, *targets), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    return run, log_path


def kill_when(run: subprocess.Popen, happened, what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not happened():
        assert run.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()


def unlock_if_stale(workdir: Path) -> None:
    """What `make run` does before running: remove the lock a killed run left, if no run is alive."""
    stale = subprocess.run([sys.executable, "-m", "diffseg.stale_lock", str(workdir)], capture_output=True)
    assert stale.returncode == 0, "the killed run's lock was not recognised as stale"
    assert run_snakemake(workdir, "--unlock").returncode == 0


def test_killed_twice_then_rerun_gives_the_uninterrupted_results(tmp_path_factory, finished_run):
    workdir = miniature_workdir(tmp_path_factory, "killed")
    results = workdir / "results" / "mini"

    run, _ = start(workdir)
    kill_when(run, (results / "model" / "training" / "checkpoint.pt").exists, "training checkpoint")
    assert not (results / "model" / "ema").exists()
    unlock_if_stale(workdir)

    # A shard counts as done once Snakemake reports its job finished (the file alone may be a job
    # Snakemake had not yet recorded, which it rightly redoes).
    run, log_path = start(workdir)
    kill_when(run, lambda: "(Rule: extract_noise)" in log_path.read_text(), "finished extraction shard")
    finished = {shard: shard.stat().st_mtime_ns for shard in (results / "diffs").glob("shard-*.h5")}
    unlock_if_stale(workdir)

    rerun = run_snakemake(workdir)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]

    assert "resumed from" in (workdir / "logs" / "mini" / "train_ddpm.log").read_text()
    kept = [shard for shard, mtime in finished.items() if shard.stat().st_mtime_ns == mtime]
    assert kept, "every finished extraction shard was redone"
    for shard in sorted((finished_run / "diffs").glob("shard-*.h5")):
        with h5py.File(shard) as expected, h5py.File(results / "diffs" / shard.name) as got:
            np.testing.assert_array_equal(got["diff"][()], expected["diff"][()])
    pd.testing.assert_frame_equal(
        pd.read_csv(results / "evaluation" / "table1.csv"), pd.read_csv(finished_run / "evaluation" / "table1.csv")
    )
