"""What each stage of a run cost: wall time, CPU time and peak memory of its jobs, read from the
TSVs that Snakemake's `benchmark:` directive writes beside each job's log, under logs/<name>/.

A job's TSV path below logs/<name>/ is its results root below results/<name>/ (nothing for the main
run, `dev/`, `cross/<cohort>/`, `candidate/<c>/…`), then its stage's folder, as in results/, then the
job: `shard-XXXX` for a per-shard job, a short name for the others (`model/train`, `diffs/join`).

A benchmark run spends its time in places a reader cannot guess (the DDPM's training, the extraction
of every development candidate, the cross-dataset cohort), and a user sizing a cluster allocation
needs the same figures. The benchmark document shows them by phase (`phase_of`) and stage.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from diffseg.evaluation.table import markdown_table
from diffseg.reports.documents import format_duration

# A label-efficiency U-Net's jobs run once per budget (`unet/masks-30/…`): one stage for all budgets.
BUDGET_FOLDER = re.compile(r"masks-\d+")
PHASES = ("training and test", "development split", "cross-dataset", "candidate not chosen", "figures")
# Stages whose jobs took less than this in all are one "other stages" line of their phase.
MINOR_SECONDS = 60


def benchmark_records(logs_root: str | os.PathLike) -> pd.DataFrame:
    """One row per job under `logs_root`: `path` (its TSV's path below the root, without the
    suffix), `stage` (`stage_of`), `s` (wall seconds), `cpu_time` (seconds) and `max_rss` (MB). A
    rerun appends a line to its TSV; the last line is the job that made the current output. No TSV
    gives an empty frame."""
    root = Path(logs_root)
    rows = []
    for tsv in sorted(root.rglob("*.tsv")):
        path = tsv.relative_to(root).with_suffix("").as_posix()
        record = pd.read_csv(tsv, sep="\t").iloc[-1]
        rows.append({"path": path, "stage": stage_of(path), "s": float(record["s"]),
                     "cpu_time": float(record.get("cpu_time", float("nan"))),
                     "max_rss": float(record.get("max_rss", float("nan")))})
    return pd.DataFrame(rows, columns=["path", "stage", "s", "cpu_time", "max_rss"])


def _root_length(parts: list[str]) -> int:
    """How many leading parts of a job's path name its results root (below the run's own)."""
    length = 2 if parts[0] == "candidate" and len(parts) > 2 else 0
    rest = parts[length:]
    if rest[:1] == ["dev"]:
        return length + 1
    return length + 2 if rest[:1] == ["cross"] and len(rest) > 2 else length


def stage_of(path: str) -> str:
    """The stage of a job's TSV path below logs/<name>/, as its results folder names it: the root and a
    per-shard job's `shard-XXXX` left out (`candidate/a/dev/diffs/shard-0003` → `diffs`), a label
    budget's folder too, marked (`unet/masks-30/train` → `unet/train (label budgets)`)."""
    parts = path.split("/")
    parts = parts[_root_length(parts):]
    if len(parts) > 1 and parts[-1].startswith("shard-"):
        parts = parts[:-1]
    kept = [part for part in parts if not BUDGET_FOLDER.fullmatch(part)]
    return "/".join(kept) + (" (label budgets)" if len(kept) < len(parts) else "")


def phase_of(path: str, chosen: str | None, borrowed: Mapping[str, str] | None = None) -> str:
    """Which part of a benchmark run a job's TSV path (below benchmarks/<name>/) belongs to: the
    development split (every candidate's), the test split and the training (`training and test`),
    the cross-dataset cohorts, a candidate other than `chosen` segmenting test images (an earlier
    run's choice, since superseded), or a figure. `borrowed` maps a stage to the candidate whose jobs
    of it the chosen one reads instead of running its own (candidates with the same step set share
    one extraction, `diffs`): those jobs are the chosen candidate's."""
    parts = path.split("/")
    if parts[0] == "candidate" and len(parts) > 2:
        name, rest = parts[1], parts[2:]
        if rest[0] == "dev":
            return "development split"
        if name != chosen and (borrowed or {}).get(stage_of(path)) != name:
            return "candidate not chosen"
        return "cross-dataset" if rest[0] == "cross" else "training and test"
    if parts[0] in ("dev", "cross"):
        return {"dev": "development split", "cross": "cross-dataset"}[parts[0]]
    return "figures" if parts[0] == "figures" else "training and test"


def stage_costs(jobs: pd.DataFrame, chosen: str | None, borrowed: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (phase, stage) in `PHASES` order (`phase_of`), the costliest stage first: `jobs`,
    the summed wall seconds `s` and `cpu_time`, and the largest `max_rss` of its jobs."""
    phases = jobs.assign(phase=[phase_of(path, chosen, borrowed) for path in jobs["path"]])
    table = phases.groupby(["phase", "stage"], as_index=False).agg(
        jobs=("s", "size"), s=("s", "sum"), cpu_time=("cpu_time", "sum"), max_rss=("max_rss", "max"))
    table["order"] = table["phase"].map(PHASES.index)
    return table.sort_values(["order", "s"], ascending=[True, False]).drop(columns="order").reset_index(drop=True)


def _duration(seconds: float) -> str:
    return format_duration(pd.Timedelta(seconds=seconds).to_pytimedelta())


def _row(phase: str, stage: str, stages: pd.DataFrame) -> list[str]:
    return [phase, stage, str(stages["jobs"].sum()), _duration(stages["s"].sum()),
            _duration(stages["cpu_time"].sum()), f"{stages['max_rss'].max():.0f}"]


def stage_costs_markdown(costs: pd.DataFrame, minor_seconds: float = MINOR_SECONDS) -> str:
    """The cost table as Markdown: per phase its stages (those under `minor_seconds` on one line),
    then the phase's total; and a reading note."""
    header = ["Phase", "Stage", "Jobs", "Wall time (sum over jobs)", "CPU time", "Peak memory of a job (MB)"]
    rows = []
    for phase, stages in costs.groupby("phase", sort=False):
        minor = stages["s"] < minor_seconds
        rows += [_row(phase, row.stage, stages.loc[[index]]) for index, row in stages[~minor].iterrows()]
        if minor.any():
            rows.append(_row(phase, f"{int(minor.sum())} other stages", stages[minor]))
        rows.append(_row(phase, "**all stages**", stages))
    note = ("From Snakemake's benchmark files (beside each job's log in logs/<name>/), the last run of each job. Wall times are summed "
            "over a stage's jobs, so stages run side by side add up to more than the run's own wall time; CPU time "
            "above wall time means a job used several cores. `candidate not chosen`: test images segmented by a "
            "candidate that an earlier run chose, before later candidates replaced it.")
    return "\n".join([*markdown_table(header, rows), "", note]) + "\n"
