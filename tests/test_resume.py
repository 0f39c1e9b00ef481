"""kill -9 during training and during extraction, then the same command: the run finishes, keeps
what was done, and its results equal those of an uninterrupted run. Once with `snakemake` and the
unlock `make run` does, once through `make run` itself, as the README promises."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from diffseg.runtime.stale_lock import has_locks

from conftest import REPO, miniature_workdir, run_snakemake, snakemake_command

pytestmark = pytest.mark.pipeline


def start(workdir: Path, command: list[str]) -> tuple[subprocess.Popen, Path]:
    """The run in its own process group, so a kill reaches Snakemake and its jobs, as a crash would."""
    log_path = workdir / f"run-{time.monotonic_ns()}.log"
    with open(log_path, "w") as log:
        run = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return run, log_path


def make_run(workdir: Path) -> list[str]:
    """`make run` in `workdir` as a user types it in the project, with this test's virtual environment
    (`-o`: never reinstalled) and the miniature config."""
    venv = Path(sys.executable).parent.parent
    snakemake_args = f"-s {shlex.quote(str(REPO / 'Snakefile'))} --configfile config.yaml"
    return ["make", "--no-print-directory", "-f", str(REPO / "Makefile"), "-o", f"{venv}/bin/.installed",
            "run", f"VENV={venv}", f"SNAKEMAKE_ARGS={snakemake_args}"]


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
    stale = subprocess.run([sys.executable, "-m", "diffseg.runtime.stale_lock", "-d", str(workdir)], capture_output=True)
    assert stale.returncode == 0, "the killed run's lock was not recognised as stale"
    assert run_snakemake(workdir, "--unlock").returncode == 0


def test_killed_twice_then_rerun_gives_the_uninterrupted_results(tmp_path_factory, finished_run):
    workdir = miniature_workdir(tmp_path_factory, "killed")
    results = workdir / "results" / "mini"

    run, _ = start(workdir, snakemake_command(workdir))
    kill_when(run, (results / "model" / "training" / "checkpoint.pt").exists, "training checkpoint")
    assert not (results / "model" / "ema").exists()
    unlock_if_stale(workdir)

    # A shard counts as done once Snakemake reports its job finished (the file alone may be a job
    # Snakemake had not yet recorded, which it rightly redoes).
    run, log_path = start(workdir, snakemake_command(workdir))
    kill_when(run, lambda: "(Rule: extract_noise)" in log_path.read_text(), "finished extraction shard")
    finished = {shard: shard.stat().st_mtime_ns for shard in (results / "diffs").glob("shard-*.h5")}
    unlock_if_stale(workdir)

    rerun = run_snakemake(workdir)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]

    assert "resumed from" in (workdir / "logs" / "mini" / "model" / "train.log").read_text()
    kept = [shard for shard, mtime in finished.items() if shard.stat().st_mtime_ns == mtime]
    assert kept, "every finished extraction shard was redone"
    assert_same_results(results, finished_run)


def test_make_run_again_after_a_kill_during_extraction_finishes(tmp_path_factory, finished_run):
    workdir = miniature_workdir(tmp_path_factory, "make-killed")
    run, log_path = start(workdir, make_run(workdir))
    kill_when(run, lambda: "rule extract_noise:" in log_path.read_text(), "extraction job")
    assert has_locks(workdir), "the killed run left no lock to test with"

    again = subprocess.run(make_run(workdir), cwd=workdir, capture_output=True, text=True, timeout=1200)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "lock left by a run that was killed; unlocking" in again.stderr
    assert_same_results(workdir / "results" / "mini", finished_run)


def assert_same_results(results: Path, finished_run: Path) -> None:
    """The difference maps and Table 1 of `results` equal those of the uninterrupted run."""
    for shard in sorted((finished_run / "diffs").glob("shard-*.h5")):
        with h5py.File(shard) as expected, h5py.File(results / "diffs" / shard.name) as got:
            np.testing.assert_array_equal(got["diff"][()], expected["diff"][()])
    pd.testing.assert_frame_equal(
        pd.read_csv(results / "evaluation" / "table1.csv"), pd.read_csv(finished_run / "evaluation" / "table1.csv")
    )
