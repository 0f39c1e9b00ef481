"""A lock left by a killed run is told apart from a live run's lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from diffseg.stale_lock import has_locks, main, snakemake_alive_in


def test_no_lock_means_nothing_to_unlock(tmp_path):
    assert not has_locks(tmp_path)
    assert main([str(tmp_path)]) == 1


def test_a_lock_without_a_live_run_is_stale(tmp_path):
    (tmp_path / ".snakemake" / "locks").mkdir(parents=True)
    (tmp_path / ".snakemake" / "locks" / "0.output.lock").write_text("a.txt\n")
    assert has_locks(tmp_path) and not snakemake_alive_in(tmp_path)
    assert main([str(tmp_path)]) == 0


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
def test_a_live_snakemake_process_in_the_directory_keeps_its_lock(tmp_path):
    (tmp_path / ".snakemake" / "locks").mkdir(parents=True)
    (tmp_path / ".snakemake" / "locks" / "0.output.lock").write_text("a.txt\n")
    # A process whose command line names snakemake, running in that directory, as a job would.
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "snakemake"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while b"snakemake" not in Path(f"/proc/{job.pid}/cmdline").read_bytes():  # until it has exec'd
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert snakemake_alive_in(tmp_path)
        assert main([str(tmp_path)]) == 1
    finally:
        job.kill()
        job.wait()


def test_without_proc_every_lock_counts_as_live(tmp_path):
    assert snakemake_alive_in(tmp_path, proc=tmp_path / "no-proc")
