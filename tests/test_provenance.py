"""Which code computed each stage: the version line of every job's log, gathered per stage."""

from __future__ import annotations

import datetime
import logging
import os
import subprocess
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest

from diffseg.reports.documents import document_header, format_duration, run_document, run_facts
from diffseg.runtime.logs import redirect_to
from diffseg.runtime.provenance import (
    UNRECORDED,
    VERSION_PREFIX,
    busy_time,
    clean_version,
    code_version,
    job_records,
    provenance_markdown,
    run_span,
    stage_of,
    stage_versions,
)

COMMIT_A, COMMIT_B = "a" * 40, "b" * 40


def git(folder, *args):
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def test_code_version_is_the_commit_and_dirty_only_for_code(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "module.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("words\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert code_version.__wrapped__(tmp_path) == head
    (tmp_path / "README.md").write_text("other words\n")  # documentation does not change results
    assert code_version.__wrapped__(tmp_path) == head
    (tmp_path / "src" / "new.py").write_text("y = 2\n")  # an untracked module does
    assert code_version.__wrapped__(tmp_path) == head + "-dirty"


def test_code_version_outside_git_is_unknown(tmp_path):
    assert code_version.__wrapped__(tmp_path) == "unknown"


def test_every_rule_log_starts_with_the_code_version(tmp_path):
    log_path = tmp_path / "stage.log"
    with redirect_to(log_path) as log:
        log.info("working")
    logging.shutdown()
    first = log_path.read_text().splitlines()[0]
    assert VERSION_PREFIX + code_version() in first


def write_log(path, version: str | None, start="2026-11-29 10:00:00"):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{start},123 INFO {VERSION_PREFIX}{version}" if version else f"{start},123 INFO started", "done"]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def logs(tmp_path):
    """A results root's logs: two sharded stages, one plain one, and a cross-validation root below."""
    root = tmp_path / "logs" / "isic"
    write_log(root / "prepare.log", COMMIT_A, start="2026-11-29 10:00:00")
    write_log(root / "threshold" / "shard-0000.log", COMMIT_A)
    write_log(root / "threshold" / "shard-0001.log", COMMIT_B + "-dirty")
    write_log(root / "crf_fuse" / "shard-0000.log", None)
    write_log(root / "validate" / "default" / "fold-1" / "prepare.log", COMMIT_B)
    end = datetime.datetime(2026, 11, 29, 10, 9, 47).timestamp()
    for log in root.rglob("*.log"):
        os.utime(log, (end, end))
    return root


def test_job_records_name_the_stage_and_version_of_every_job(logs):
    jobs = job_records(logs, skip=["validate"]).set_index("log")
    assert sorted(jobs["stage"]) == ["crf_fuse", "prepare", "threshold", "threshold"]
    assert jobs.loc["threshold/shard-0001.log", "version"] == COMMIT_B + "-dirty"
    assert jobs.loc["crf_fuse/shard-0000.log", "version"] == UNRECORDED
    assert len(job_records(logs)) == 5  # the fold's log too when nothing is skipped
    folds = job_records(logs / "validate", root_depth=2)
    assert list(folds["stage"]) == ["prepare"]  # the stage of every root, not one per fold


def test_stage_names_keep_figure_logs_apart_from_rules():
    assert stage_of(Path("ged/shard-0001.log")) == "ged"
    assert stage_of(Path("figures/ged.log")) == "figures/ged"
    assert stage_of(Path("default/fold-3/extract_noise/shard-0000.log"), root_depth=2) == "extract_noise"


def test_stage_versions_count_jobs_per_commit(logs):
    table = stage_versions(job_records(logs, skip=["validate"])).set_index("stage")
    assert table.loc["threshold", "jobs"] == 2
    assert table.loc["threshold", "versions"] == "aaaaaaaaaa: 1; bbbbbbbbbb-dirty: 1"


def test_a_run_is_clean_only_at_one_recorded_committed_version(logs):
    mixed = job_records(logs, skip=["validate"])
    assert clean_version(mixed) is None
    assert "Not a clean run" in provenance_markdown(mixed)
    one = mixed.assign(version=COMMIT_A)
    assert clean_version(one) == COMMIT_A
    assert provenance_markdown(one).startswith(f"A clean run: every one of the 4 jobs ran at commit `{COMMIT_A}`")
    assert clean_version(mixed.assign(version=COMMIT_A + "-dirty")) is None
    assert "No job logs" in provenance_markdown(job_records(logs / "absent"))


def test_run_span_reaches_from_the_first_start_to_the_last_end(logs):
    span = run_span(job_records(logs, skip=["validate"]))
    assert span == datetime.timedelta(minutes=9, seconds=47)
    assert format_duration(span) == "9 min 47 s"
    assert format_duration(datetime.timedelta(hours=2, minutes=3, seconds=10)) == "2 h 03 min"


def test_busy_time_counts_the_hours_jobs_ran_not_a_pause_between_them():
    at = lambda hour, minute=0: datetime.datetime(2026, 11, 29, hour, minute)  # noqa: E731
    jobs = pd.DataFrame({"start": [at(10), at(10, 30), at(10, 40), at(15), None],
                         "end": [at(11), at(10, 50), at(11, 10), at(15, 20), at(16)]})
    # 10:00–11:10 (three overlapping jobs) and 15:00–15:20; the job without a start is not timed.
    assert busy_time(jobs) == datetime.timedelta(hours=1, minutes=30)
    assert run_span(jobs) == datetime.timedelta(hours=6)
    provenance = {"name": "isic", "command": "snakemake", "cohort": "isic", "bootstrap": 10, "metrics_seed": 0,
                  "target": "benchmark"}
    with mock.patch("diffseg.reports.documents.code_version", return_value="unknown"):
        run = run_facts(provenance, ".", jobs)
    assert run["run_time"] == "1 h 30 min" and run["run_span"] == "6 h 00 min"
    header = "\n".join(document_header("Benchmark isic", {**run, "date": "2026-11-29"}))
    assert "| Run time | 1 h 30 min (while jobs ran, from the jobs' logs; paused and resumed, it spans 6 h 00 min" in header
    assert busy_time(jobs.iloc[:0]) is None


def test_run_document_holds_table1_ged_and_the_stage_provenance(logs):
    provenance = {"name": "synthetic", "target": "all", "command": "snakemake", "cohort": "synthetic",
                  "bootstrap": 2000, "metrics_seed": 0, "config": "dataset: {name: synthetic}\n"}
    ged = pd.DataFrame([{"measure": "ged", "n": 74, "mean": 0.5, "sd": 0.1, "ci_low": 0.45, "ci_high": 0.55}])
    jobs = job_records(logs, skip=["validate"])
    run = run_facts(provenance, logs, jobs)
    assert run["commit"] == "unknown" and run["run_time"] == "9 min 47 s"  # the logs folder is no checkout
    sections = {"Dice by lesion size": "| Method | < 10 % (n = 3) |\n"}
    document = run_document("| Method |\n", ged, run, provenance_markdown(jobs), sections)
    for expected in ("# Run synthetic", "| Run time | 9 min 47 s", "## Table 1", "| ged | 74 | 0.500 [0.450, 0.550] |",
                     "| threshold | 2 |", "dataset: {name: synthetic}",
                     "| Method |\n\n## Dice by lesion size\n\n| Method | < 10 % (n = 3) |\n\n## Uncertainty"):
        assert expected in document
    assert "## Dice by lesion size" not in run_document("| Method |\n", ged, run, provenance_markdown(jobs))
