"""What a run does before its first job: remove the temporaries that killed jobs left under results/.

A job killed mid-write (kill -9, a lost node, a power cut) leaves its `diffseg.runtime.atomic` temporary
beside the output it was writing. Snakemake reruns the job, but the temporary would stay forever.
Sweeping at the start of a run is safe only while no other run writes in the same folder: Snakemake
locks per file, so two runs with disjoint outputs may share a folder. The sweep therefore happens
only when every lock in `.snakemake/locks` is this run's own, and even then removes only the
temporaries whose writer is gone (their names carry it: `diffseg.runtime.atomic.writer_alive`) or,
where that cannot be told (another node's), that nothing has written to for an hour. A run that ends
removes the whole locks folder (Snakemake's `_delete_locks`), the locks of a run still going
included, so their absence does not prove that no one is writing: a `--touch` beside a long run once
swept a live extraction's temporary that way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from diffseg.runtime.atomic import sweep_temporaries

log = logging.getLogger("diffseg")
# A temporary of another node's writer that nothing wrote to for this long belongs to a killed job.
QUIET_FOR_S = 3600.0


def sweep_killed_writes(
    results: str | os.PathLike, lock_dir: str | os.PathLike, own_locks: Iterable[str | os.PathLike]
) -> list[Path]:
    """Remove the atomic-write temporaries of killed writers under `results` (`sweep_temporaries`, with
    `QUIET_FOR_S` for those whose writer cannot be told) when this run (holding `own_locks`) is alone.

    Returns what was removed; nothing when another run holds locks in `lock_dir`, or when this run
    holds none (`--nolock`: then nothing tells whether another run is writing).
    """
    own = {Path(lock).resolve() for lock in own_locks}
    others = sorted(p for p in Path(lock_dir).glob("*.lock") if p.resolve() not in own)
    if not own or others:
        log.info("another run may be writing under %s: temporaries of killed jobs are left in place", results)
        return []
    swept = sweep_temporaries(results, QUIET_FOR_S) if Path(results).is_dir() else []
    if swept:
        log.warning("removed %d temporary file(s) left by killed jobs under %s", len(swept), results)
    return swept
