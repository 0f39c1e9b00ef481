"""A lock left by a killed run is told apart from a live run's lock.

The fake /proc trees hold what the check reads of a process: `cmdline`, `status` (its parent) and
`cwd`. `make run` after a kill: tests/test_resume.py."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from diffseg.runtime.stale_lock import (
    has_locks,
    is_snakemake_process,
    main,
    run_directory,
    snakemake_alive_in,
)


def lock(directory: Path) -> None:
    """The lock files a run leaves when killed."""
    (directory / ".snakemake" / "locks").mkdir(parents=True)
    (directory / ".snakemake" / "locks" / "0.output.lock").write_text("a.txt\n")


def fake_process(proc: Path, pid: int, parent: int, cwd: Path, *argv: str) -> int:
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "cmdline").write_bytes(b"".join(arg.encode() + b"\0" for arg in argv))
    (proc / str(pid) / "status").write_text(f"Name:\t{Path(argv[0]).name}\nPid:\t{pid}\nPPid:\t{parent}\n")
    (proc / str(pid) / "cwd").symlink_to(cwd)
    return pid


def make_run_asking(proc: Path, project: Path) -> int:
    """`make run` after a kill: make, the shell of its recipe (whose line names snakemake), and the
    check it runs; returns the check's pid."""
    fake_process(proc, 1, 0, Path("/"), "/sbin/init")
    fake_process(proc, 100, 1, project, "make", "run")
    recipe = "if .venv/bin/python -m diffseg.runtime.stale_lock ; then .venv/bin/snakemake --unlock --cores 1 ; fi"
    fake_process(proc, 101, 100, project, "/bin/sh", "-c", recipe)
    return fake_process(proc, 102, 101, project, ".venv/bin/python", "-m", "diffseg.runtime.stale_lock")


def test_the_make_run_asking_is_not_taken_for_a_live_run(tmp_path):
    proc, project = tmp_path / "proc", tmp_path / "project"
    project.mkdir()
    asking = make_run_asking(proc, project)
    assert not snakemake_alive_in(project, proc=proc, pid=asking)


def test_a_shell_line_naming_snakemake_is_no_run(tmp_path):
    proc, project = tmp_path / "proc", tmp_path / "project"
    project.mkdir()
    asking = make_run_asking(proc, project)
    fake_process(proc, 200, 1, project, "/bin/sh", "-c", "echo snakemake --unlock")
    assert not snakemake_alive_in(project, proc=proc, pid=asking)


@pytest.mark.parametrize(
    "argv",
    [
        ["/project/.venv/bin/python3", "/project/.venv/bin/snakemake", "--cores", "2"],
        ["/usr/local/bin/snakemake", "all"],
        ["python", "-m", "snakemake", "--target-jobs", "prepare:dataset=mini", "--mode", "subprocess"],
        ["/project/.venv/bin/python", ".snakemake/scripts/tmpq8w_3k.extract.py"],
    ],
)
def test_a_snakemake_process_in_the_directory_is_a_live_run(tmp_path, argv):
    proc, project = tmp_path / "proc", tmp_path / "project"
    project.mkdir()
    asking = make_run_asking(proc, project)
    fake_process(proc, 300, 1, project, *argv)
    assert is_snakemake_process(argv)
    assert snakemake_alive_in(project, proc=proc, pid=asking)
    assert not snakemake_alive_in(tmp_path, proc=proc, pid=asking)  # a run elsewhere does not count


@pytest.mark.parametrize(
    "argv",
    [
        ["/bin/sh", "-c", "if python -m diffseg.runtime.stale_lock; then .venv/bin/snakemake --unlock; fi"],
        ["vim", "snakemake.log"],
        ["python", "-m", "pip", "install", "snakemake-executor-plugin-slurm"],
        [""],
    ],
)
def test_other_commands_are_not_snakemake(argv):
    assert not is_snakemake_process(argv)


@pytest.mark.parametrize(
    ("snakemake_args", "directory"),
    [
        ([], "."),
        (["validate", "--configfile", "my.yaml"], "."),
        (["-s", "/repo/Snakefile", "-d", "/scratch/run", "all"], "/scratch/run"),
        (["--directory=/scratch/run", "-n"], "/scratch/run"),
    ],
)
def test_the_run_directory_is_snakemakes(snakemake_args, directory):
    assert run_directory(snakemake_args) == Path(directory)


def test_no_lock_means_nothing_to_unlock(tmp_path):
    assert not has_locks(tmp_path)
    assert main(["-d", str(tmp_path)]) == 1


def test_a_lock_without_a_live_run_is_stale(tmp_path):
    lock(tmp_path)
    assert has_locks(tmp_path) and not snakemake_alive_in(tmp_path)
    assert main(["-d", str(tmp_path)]) == 0


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
def test_a_live_snakemake_job_in_the_directory_keeps_its_lock(tmp_path):
    lock(tmp_path)
    # A `script:` job runs the copy Snakemake wrote to .snakemake/scripts/, in the run's directory.
    script = Path(".snakemake", "scripts", "tmp1a2b.prepare.py")
    (tmp_path / script).parent.mkdir(parents=True)
    (tmp_path / script).write_text("import time\ntime.sleep(30)\n")
    job = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while str(script).encode() not in Path(f"/proc/{job.pid}/cmdline").read_bytes():  # until it has exec'd
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert snakemake_alive_in(tmp_path)
        assert main(["-d", str(tmp_path)]) == 1
    finally:
        job.kill()
        job.wait()


def test_without_proc_every_lock_counts_as_live(tmp_path):
    assert snakemake_alive_in(tmp_path, proc=tmp_path / "no-proc")
