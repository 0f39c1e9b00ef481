"""Tell a stale Snakemake lock (left by kill -9, a power cut, a node lost) from a live run.

Snakemake locks a working directory while it runs and, when killed hard, leaves the lock behind, so
the next run refuses to start until `snakemake --unlock`. `make run` asks this module first and
unlocks only when no process of a Snakemake run is alive in the directory, so running the same
command again after a crash just works and two live runs still cannot collide.

Usage: `python -m diffseg.runtime.stale_lock [SNAKEMAKE_ARGS...]` looks at the directory of Snakemake's
`-d/--directory` among the arguments (the current one without it), so `make run` hands it its
`SNAKEMAKE_ARGS` unchanged. It exits 0 (and says so) when that directory has a stale lock, 1 when it
has none or a run is alive there.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def has_locks(directory: str | os.PathLike) -> bool:
    """Whether Snakemake's lock files exist in `directory`."""
    locks = Path(directory) / ".snakemake" / "locks"
    return locks.is_dir() and any(locks.iterdir())


def is_snakemake_process(argv: list[str]) -> bool:
    """Whether a command line is Snakemake's: the scheduler, or one of its local jobs.

    The scheduler runs the `snakemake` entry point (as the interpreter's script argument or exec'd
    itself) or `python -m snakemake`, as do the jobs Snakemake spawns; a `script:` job runs the copy
    Snakemake writes to `.snakemake/scripts/`. A mere mention of the word, as in the shell line of
    `make run` that calls `snakemake --unlock`, is not a Snakemake process.
    """
    for position, argument in enumerate(argv):
        path = Path(argument)
        if path.name == "snakemake" or path.parent.parts[-2:] == (".snakemake", "scripts"):
            return True
        if argument == "-m" and argv[position + 1 : position + 2] == ["snakemake"]:
            return True
    return False


def ancestors(pid: int, proc: str | os.PathLike = "/proc") -> set[int]:
    """`pid` and the processes it descends from (its parent, the parent's parent, …)."""
    proc, lineage = Path(proc), set()
    while pid > 0 and pid not in lineage:
        lineage.add(pid)
        try:
            status = (proc / str(pid) / "status").read_text()
        except OSError:  # ended meanwhile
            break
        pid = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), 0)
    return lineage


def snakemake_alive_in(
    directory: str | os.PathLike, proc: str | os.PathLike = "/proc", pid: int | None = None
) -> bool:
    """Whether a live process of a Snakemake run (the scheduler or a job) has `directory` as its cwd.

    The asking process `pid` (this one by default) and its ancestors never count: through `make run`
    they are make and the shell running the recipe, whose own command names snakemake. Reads Linux's
    /proc; where there is none (macOS), any lock is treated as live, so Snakemake's own message about
    `--unlock` reaches the user instead of a guess.
    """
    proc, directory = Path(proc), Path(directory).resolve()
    if not proc.is_dir():
        return True
    asking = ancestors(os.getpid() if pid is None else pid, proc)
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in asking:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:  # the process ended, or belongs to another user
            continue
        if cwd == directory and is_snakemake_process(argv):
            return True
    return False


def run_directory(snakemake_args: list[str]) -> Path:
    """The working directory Snakemake's arguments give it (`-d/--directory`, else the current one)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("-d", "--directory", default=".")
    return Path(parser.parse_known_args(snakemake_args)[0].directory)


def main(argv: list[str]) -> int:
    directory = run_directory(argv)
    if has_locks(directory) and not snakemake_alive_in(directory):
        print(f"{directory.resolve()}: lock left by a run that was killed; unlocking", file=sys.stderr)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
