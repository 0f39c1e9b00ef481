"""Tell a stale Snakemake lock (left by kill -9, a power cut, a node lost) from a live run.

Snakemake locks a working directory while it runs and, when killed hard, leaves the lock behind, so
the next run refuses to start until `snakemake --unlock`. `make run` asks this module first and
unlocks only when no process of a Snakemake run is alive in the directory, so running the same
command again after a crash just works and two live runs still cannot collide.

Usage: `python -m diffseg.stale_lock [DIR]` exits 0 (and says so) when DIR has a stale lock, 1 when
it has none or a run is alive there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def has_locks(directory: str | os.PathLike) -> bool:
    """Whether Snakemake's lock files exist in `directory`."""
    locks = Path(directory) / ".snakemake" / "locks"
    return locks.is_dir() and any(locks.iterdir())


def snakemake_alive_in(directory: str | os.PathLike, proc: str | os.PathLike = "/proc") -> bool:
    """Whether a live process of a Snakemake run (the scheduler or a job) has `directory` as its cwd.

    Reads Linux's /proc; where there is none (macOS), any lock is treated as live, so Snakemake's own
    message about `--unlock` reaches the user instead of a guess.
    """
    proc, directory = Path(proc), Path(directory).resolve()
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:  # the process ended, or belongs to another user
            continue
        if b"snakemake" in command and cwd == directory:
            return True
    return False


def main(argv: list[str]) -> int:
    directory = Path(argv[0] if argv else ".")
    if has_locks(directory) and not snakemake_alive_in(directory):
        print(f"{directory.resolve()}: lock left by a run that was killed; unlocking", file=sys.stderr)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
