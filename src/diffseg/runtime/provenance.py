"""Which code computed each stage of a results root, read back from the jobs' logs.

Snakemake reruns a job when its inputs, params or rule code change, but not when the package it
imports changes, so the stages of one document can have been computed by several commits. Every
rule script logs the code version it runs (`redirect_to` writes `code version: <commit>` as its
first line); the documents gather those lines per stage, so a reader sees whether a table comes from
one clean commit or from a mixture.
"""

from __future__ import annotations

import datetime
import functools
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

VERSION_PREFIX = "code version: "
UNRECORDED = "unrecorded"  # a job whose log predates the version line, or was lost
# What the results depend on: a change anywhere else (docs, tests) does not make a run "dirty".
CODE_PATHS = ("src", "scripts", "workflow", "Snakefile", "requirements.txt")
_PACKAGE_ROOT = Path(__file__).resolve().parents[3]
_LOG_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@functools.cache
def code_version(folder: str | os.PathLike = _PACKAGE_ROOT) -> str:
    """The commit of the code in `folder`, with `-dirty` when its code paths differ from the commit
    (untracked files there included); `unknown` outside a git checkout."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return "unknown"
        changed = git("status", "--porcelain", "--", *CODE_PATHS).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if changed else "")


def stage_of(log: Path, root_depth: int = 0) -> str:
    """The stage a log (relative to the logs folder) belongs to: `<rule>.log`, `<rule>/shard-NNNN.log`
    for a sharded rule, `figures/<figure>.log` for a figure; the first `root_depth` folders name a
    results root below the logs folder (`<variant>/fold-<k>` of a cross-validation) and are dropped,
    so a stage gathers its jobs of every root."""
    stage = log.parent if log.name.startswith("shard-") else log.with_suffix("")
    return "/".join(stage.parts[root_depth:])


def job_records(log_folder: str | os.PathLike, skip: Iterable[str] = (), root_depth: int = 0) -> pd.DataFrame:
    """One row per job log under `log_folder` (sub-folders named in `skip` left out): `stage` (see
    `stage_of`), `log`, `version` (the code version it logged, or `unrecorded`), `start` (its first
    timestamp) and `end` (the log's last write)."""
    folder, skip = Path(log_folder), set(skip)
    rows = []
    for log in sorted(folder.rglob("*.log")):
        relative = log.relative_to(folder)
        if relative.parts[0] in skip:
            continue
        head = _head(log)
        rows.append({
            "stage": stage_of(relative, root_depth),
            "log": str(relative),
            "version": next((line.split(VERSION_PREFIX, 1)[1].strip() for line in head if VERSION_PREFIX in line),
                            UNRECORDED),
            "start": _first_timestamp(head),
            "end": datetime.datetime.fromtimestamp(log.stat().st_mtime),
        })
    return pd.DataFrame(rows, columns=["stage", "log", "version", "start", "end"])


def _head(log: Path, size: int = 4096) -> list[str]:
    with open(log, encoding="utf-8", errors="replace") as handle:
        return handle.read(size).splitlines()


def _first_timestamp(lines: list[str]) -> datetime.datetime | None:
    for line in lines:
        try:
            return datetime.datetime.strptime(line[:19], _LOG_TIME_FORMAT)
        except ValueError:
            continue
    return None


def stage_versions(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per stage: its number of jobs and the code versions that computed them (`<commit>: <jobs>`)."""
    rows = []
    for stage, group in jobs.groupby("stage", sort=True):
        counts = group["version"].value_counts()
        rows.append({"stage": stage, "jobs": len(group),
                     "versions": "; ".join(f"{_short(version)}: {n}" for version, n in counts.items())})
    return pd.DataFrame(rows, columns=["stage", "jobs", "versions"])


def clean_version(jobs: pd.DataFrame) -> str | None:
    """The one commit every job ran at, when the run is clean (one version, recorded, not dirty)."""
    versions = set(jobs["version"])
    if len(versions) != 1:
        return None
    (version,) = versions
    return None if version in (UNRECORDED, "unknown") or version.endswith("-dirty") else version


def provenance_markdown(jobs: pd.DataFrame) -> str:
    """The "Code that computed each stage" section of a document: a verdict line and a table."""
    if jobs.empty:
        return "No job logs were found, so the code of each stage is not known.\n"
    clean = clean_version(jobs)
    if clean:
        verdict = f"A clean run: every one of the {len(jobs)} jobs ran at commit `{clean}`."
    else:
        verdict = (f"Not a clean run: the {len(jobs)} jobs ran at {jobs['version'].nunique()} code versions "
                   f"(`-dirty`: uncommitted code changes; `{UNRECORDED}`: a log without the version line). "
                   "Snakemake does not rerun a stage when only the package changes, so a stage can predate "
                   "the commit in the header; rerun with `--forcerun` for a clean document.")
    lines = [verdict, "", "| Stage | Jobs | Code versions (commit: jobs) |", "| --- | --- | --- |"]
    lines += [f"| {row.stage} | {row.jobs} | {row.versions} |" for row in stage_versions(jobs).itertuples()]
    return "\n".join(lines) + "\n"


def run_span(jobs: pd.DataFrame) -> datetime.timedelta | None:
    """From the first job's start to the last job's end (an interrupted run counts its pause too)."""
    starts = jobs["start"].dropna()
    if starts.empty:
        return None
    return jobs["end"].max() - starts.min()


def busy_time(jobs: pd.DataFrame) -> datetime.timedelta | None:
    """The time during which at least one job ran: the union of the jobs' [start, end] intervals.
    Unlike `run_span`, a run paused for a night and resumed, or a later invocation that redid a few
    stages, does not count its idle hours."""
    timed = jobs.dropna(subset=["start"]).sort_values("start")
    if timed.empty:
        return None
    total, busy_until = datetime.timedelta(0), None
    for start, end in zip(timed["start"], timed["end"], strict=True):
        if busy_until is None or start > busy_until:
            total += end - start
            busy_until = end
        elif end > busy_until:
            total += end - busy_until
            busy_until = end
    return total


def _short(version: str) -> str:
    commit, dirty, _ = version.partition("-dirty")
    return (commit[:10] if len(commit) == 40 else commit) + ("-dirty" if dirty else "")
