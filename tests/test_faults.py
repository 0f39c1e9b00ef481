"""Faults: kill -9 of the whole run at prepare, at CRF fusion and during `annotate`, then the same command.

The rerun completes, its results equal an uninterrupted run's, and nothing half-written or temporary
survives under results/: a killed writer leaves only a hidden temporary (diffseg.runtime.atomic), which the
next run sweeps at its start (diffseg.runtime.run_start, the Snakefile's `onstart`). kill -9 during training
and extraction is tests/test_resume.py.
"""

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
import yaml
from PIL import Image
from test_resume import kill_when, start, unlock_if_stale

from diffseg.runtime.atomic import atomic_path, temporaries
from diffseg.runtime.run_start import QUIET_FOR_S, sweep_killed_writes

from conftest import REPO, miniature_workdir, run_snakemake, snakemake_command

pytestmark = pytest.mark.pipeline

N_ANNOTATE = 6


def stage_reached(results: Path, folder: str, log_path: Path, rule: str, seen: list[Path]):
    """A condition for `kill_when`: a write in progress under `results/folder` (recorded in `seen`),
    or, if the stage wrote too fast to be caught, the end of its first job."""

    def reached() -> bool:
        found = temporaries(results / folder) if (results / folder).is_dir() else []
        seen.extend(found)
        return bool(found) or f"(Rule: {rule})" in log_path.read_text()

    return reached


def kill_at(workdir: Path, results: Path, folder: str, rule: str, *args: str) -> list[Path]:
    """Start the run (`args` as targets), kill its process group at that stage; the temporaries seen."""
    run, log_path = start(workdir, snakemake_command(workdir, *args))
    seen: list[Path] = []
    kill_when(run, stage_reached(results, folder, log_path, rule, seen), f"{rule} running")
    unlock_if_stale(workdir)
    return seen


def assert_nothing_half_written(results: Path) -> None:
    assert temporaries(results) == [], "temporaries of killed writers survived the rerun"
    for path in results.rglob("*"):
        if path.suffix == ".h5":
            with h5py.File(path, "r") as h5:
                h5.visititems(lambda _, item: item[()] if isinstance(item, h5py.Dataset) else None)
        elif path.suffix == ".png":
            with Image.open(path) as image:
                image.load()
        elif path.suffix == ".csv":
            pd.read_csv(path)


def assert_same_shards(expected_folder: Path, got_folder: Path) -> None:
    """Every per-shard HDF5 file of `expected_folder` has an identical twin in `got_folder`."""
    shards = sorted(expected_folder.glob("shard-*.h5"))
    assert shards
    for shard in shards:
        with h5py.File(shard) as expected, h5py.File(got_folder / shard.name) as got:
            for name in expected:
                np.testing.assert_array_equal(got[name][()], expected[name][()], err_msg=f"{shard.name}:{name}")


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, finished_run):
    """The miniature run killed at prepare, rerun and killed at CRF fusion, then rerun to the end."""
    workdir = miniature_workdir(tmp_path_factory, "faults")
    results = workdir / "results" / "mini"
    seen = kill_at(workdir, results, "prepared", "prepare")
    assert not (results / "crf").exists(), "the run went past prepare before it was killed"
    seen += kill_at(workdir, results, "crf", "fuse_crf")
    rerun = run_snakemake(workdir)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    return workdir, results, seen


def test_rerun_after_kills_at_prepare_and_crf_equals_the_uninterrupted_run(resumed, finished_run):
    _, results, _ = resumed
    assert_same_shards(finished_run / "crf", results / "crf")
    for table in ("prepared/manifest.csv", "evaluation/table1.csv", "uncertainty/ged.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(results / table), pd.read_csv(finished_run / table))


def test_no_temporary_or_half_written_file_survives(resumed):
    _, results, seen = resumed
    assert_nothing_half_written(results.parent)
    # The kills caught writes in progress (else this test would not test the sweep).
    assert seen, "no kill caught a temporary file; the stages wrote too fast to be interrupted"


@pytest.fixture(scope="module")
def annotated(resumed):
    """`annotate` killed part-way and rerun, and the same images annotated uninterrupted under another name."""
    workdir, results, _ = resumed
    cohort = workdir / "clinic"
    cohort.mkdir()
    for image in sorted((results / "cohort" / "images").iterdir())[:N_ANNOTATE]:
        (cohort / image.name).symlink_to(image)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    for name in ("killed", "uninterrupted"):
        config["annotate"] = {"cohort": str(cohort), "name": name, "shard_size": 2}
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        if name == "killed":
            kill_at(workdir, workdir / "results" / "annotate", name, "annotate_extract", "annotate")
        result = run_snakemake(workdir, "annotate")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir / "results" / "annotate"


def test_annotate_killed_then_rerun_equals_an_uninterrupted_annotation(annotated):
    killed, reference = annotated / "killed", annotated / "uninterrupted"
    pd.testing.assert_frame_equal(pd.read_csv(killed / "annotations.csv"), pd.read_csv(reference / "annotations.csv"))
    assert len(pd.read_csv(killed / "annotations.csv")) == N_ANNOTATE
    assert_same_shards(reference / "crf", killed / "crf")
    assert_nothing_half_written(annotated)


WRITER = """
import sys, time
from diffseg.runtime.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp, open(tmp, "w") as handle:
    handle.write("half")
    handle.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


def live_writer(target: Path) -> subprocess.Popen:
    """A real writer of `target`, mid-write (it sleeps a minute before finishing)."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO / "src")})  # fmt: skip
    assert writer.stdout.readline().strip() == "writing"
    return writer


def killed_writer(target: Path) -> None:
    """A real writer of `target`, killed with SIGKILL mid-write."""
    writer = live_writer(target)
    writer.send_signal(signal.SIGKILL)
    writer.wait()


def test_a_killed_writer_leaves_only_a_temporary_that_the_sweep_removes(tmp_path):
    results = tmp_path / "results"
    done = results / "mini" / "done.csv"
    with atomic_path(done) as tmp:
        tmp.write_text("finished")
    killed_writer(results / "mini" / "diffs" / "shard-0000.h5")
    (results / "mini" / ".keep").write_text("a user's hidden file")
    litter = temporaries(results)
    assert len(litter) == 1 and litter[0].parent == results / "mini" / "diffs"
    assert litter[0].name.startswith(".shard-0000.h5.") and litter[0].name.endswith(".tmp.h5")
    assert not (results / "mini" / "diffs" / "shard-0000.h5").exists(), "no half-written file under the final name"

    own = tmp_path / ".snakemake" / "locks" / "0.output.lock"
    own.parent.mkdir(parents=True)
    own.write_text("results/mini/diffs/shard-0000.h5\n")
    assert sweep_killed_writes(results, own.parent, [own]) == litter  # its writer is gone: at once
    assert temporaries(results) == []
    assert done.read_text() == "finished" and (results / "mini" / ".keep").exists()


def test_the_sweep_waits_while_another_run_holds_locks(tmp_path):
    results = tmp_path / "results"
    killed_writer(results / "model" / "checkpoint.pt")
    locks = tmp_path / "locks"
    locks.mkdir()
    (locks / "0.output.lock").write_text("results/other\n")  # another live run's
    (locks / "1.output.lock").write_text("results/model\n")  # this run's
    assert sweep_killed_writes(results, locks, [locks / "1.output.lock"]) == []
    assert sweep_killed_writes(results, locks, []) == [], "--nolock: another run cannot be ruled out"
    assert len(temporaries(results)) == 1, "a write of another live run must not be removed"


def test_a_live_writers_temporary_survives_a_sweep_that_finds_no_other_lock(tmp_path):
    """Snakemake removes the whole locks folder when any run ends, so a run still writing can hold no
    lock file: its writer's temporary is left while the writer lives. One whose writer cannot be told
    (another node's, or a name without it) waits until nothing has written to it for QUIET_FOR_S,
    judged inside a folder by its newest file."""
    results = tmp_path / "results"
    writer = live_writer(results / "mini" / "diffs" / "shard-0001.h5")
    try:
        elsewhere = results / "mini" / "crf" / ".shard-0001.h5.node-7~4242.abcd1234.tmp.h5"
        elsewhere.parent.mkdir(parents=True)
        elsewhere.write_bytes(b"another node's write in progress")
        quiet_folder = results / "mini" / "model" / ".ema.node-7~4242.tmpabcd1234"
        (quiet_folder / "weights").mkdir(parents=True)
        (quiet_folder / "weights" / "w.bin").write_bytes(b"w")
        an_hour_ago = time.time() - QUIET_FOR_S - 1
        for path in (quiet_folder, quiet_folder / "weights", quiet_folder / "weights" / "w.bin"):
            os.utime(path, (an_hour_ago, an_hour_ago))
        own = tmp_path / "locks" / "1.output.lock"
        own.parent.mkdir()
        own.write_text("results/mini\n")
        assert sweep_killed_writes(results, own.parent, [own]) == [quiet_folder]
        assert sorted(path.parent.name for path in temporaries(results)) == ["crf", "diffs"]
    finally:
        writer.kill()
        writer.wait()
    left_by_the_writer = [path for path in temporaries(results) if path.parent.name == "diffs"]
    assert len(left_by_the_writer) == 1 and sweep_killed_writes(results, own.parent, [own]) == left_by_the_writer
