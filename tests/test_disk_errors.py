"""A full disk or an unwritable results folder: one clear message naming the file and the cause.

Every write is real: ENOSPC from a small tmpfs, EROFS from a read-only tmpfs (both need root, as in
CI), ENOTDIR from a file where the results folder should be, EACCES from a read-only folder (for root,
with the capability to override permissions dropped). A stage runs as a rule script does: inside
`diffseg.runtime.logs.redirect_to(log)`, in its own process. What the user sees is the last line of stderr and
of the stage's log, with no traceback; no temporary is left behind.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from diffseg.runtime.atomic import temporaries
from diffseg.runtime.logs import known_failure

from conftest import MINIATURE, REPO, run_snakemake

# One stage per kind of writer the pipeline has: HDF5 store (chunked, gzip), CSV, PNG, torch checkpoint,
# saved model folder.
STAGE = """
import sys
import numpy as np
import pandas as pd
from diffseg.runtime.logs import redirect_to

kind, target, log_path = sys.argv[1:4]
with redirect_to(log_path):
    rng = np.random.default_rng(0)
    if kind == "store":
        from diffseg.data.images import write_png
        from diffseg.data.store import write_store
        paths = [f"{sys.argv[4]}/im{i}.png" for i in range(30)]
        for path in paths:
            write_png(path, rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
        cohort = pd.DataFrame({"id": [f"im{i}" for i in range(30)], "image_path": paths, "mask_path": "",
                               "label": 1, "split": "train"})
        write_store(target, cohort, 64, "folder")
    elif kind == "csv":
        from diffseg.runtime.atomic import write_csv
        write_csv(pd.DataFrame(rng.random((20000, 5))), target)
    elif kind == "png":
        from diffseg.data.images import write_png
        write_png(target, rng.integers(0, 255, (400, 400, 3), dtype=np.uint8))
    elif kind == "checkpoint":
        import torch
        from diffseg.runtime.atomic import atomic_path
        with atomic_path(target) as tmp:
            torch.save({"weights": torch.rand(100_000)}, tmp)
    elif kind == "model":
        from diffseg.method.model import build_unet, save_model
        save_model(build_unet("tiny", 32), target)
print("written")
"""
TARGETS = {"store": "prepared/store.h5", "csv": "evaluation/scores.csv", "png": "figures/steps.png",
           "checkpoint": "model/training/checkpoint.pt", "model": "model/ema"}  # fmt: skip


def run_stage(kind: str, results: Path, tmp_path: Path, prefix: tuple[str, ...] = ()) -> tuple[Path, str, str]:
    """Run one writing stage into `results`; its target, the last line of stderr and of its log."""
    target, log_path, inputs = results / TARGETS[kind], tmp_path / "logs" / f"{kind}.log", tmp_path / "inputs"
    inputs.mkdir(exist_ok=True)
    result = subprocess.run([*prefix, sys.executable, "-c", STAGE, kind, str(target), str(log_path), str(inputs)],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})  # fmt: skip
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    log_text = log_path.read_text()
    assert "Traceback" not in log_text and "Traceback" not in result.stderr, log_text + result.stderr
    assert not Path(target).exists() and temporaries(results.parent) == []
    return target, result.stderr.strip().splitlines()[-1], log_text.strip().splitlines()[-1]


def mount_tmpfs(where: Path, options: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a real full or read-only file system needs root to mount a tmpfs (CI runs as root)")
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (a container without CAP_SYS_ADMIN?): {mounted.stderr!r}")


@pytest.fixture
def full_disk(tmp_path):
    """A results folder on a 64 KiB file system: any real output fills it."""
    results = tmp_path / "results"
    mount_tmpfs(results, "size=64k")
    yield results
    subprocess.run(["umount", str(results)], check=True)


@pytest.mark.parametrize("kind", list(TARGETS))
def test_disk_full_names_the_output_and_the_cause(full_disk, tmp_path, kind):
    target, stderr_line, log_line = run_stage(kind, full_disk, tmp_path)
    message = f"cannot write {target}: no space left on device"
    assert stderr_line == f"Error: {message}"
    assert log_line.endswith(f"ERROR {message}")


def test_read_only_file_system(tmp_path):
    results = tmp_path / "results"
    mount_tmpfs(results, "ro,size=1m")
    try:
        target, stderr_line, _ = run_stage("csv", results, tmp_path)
    finally:
        subprocess.run(["umount", str(results)], check=True)
    assert stderr_line == f"Error: cannot write {target}: read-only file system"


def test_results_folder_that_is_a_file(tmp_path):
    (tmp_path / "results").write_text("not a folder")
    target, stderr_line, _ = run_stage("store", tmp_path / "results" / "mini", tmp_path)
    assert stderr_line == f"Error: cannot write {target}: {tmp_path / 'results'} is a file, not a folder"


def test_results_folder_without_write_permission(tmp_path):
    results = tmp_path / "results"
    (results / "model").mkdir(parents=True)
    (results / "model").chmod(0o555)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:  # root ignores permissions unless it gives up the capability to
        if shutil.which("setpriv") is None:
            pytest.skip("root ignores folder permissions, and util-linux `setpriv` to drop that is not installed")
        prefix = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")
    try:
        target, stderr_line, _ = run_stage("model", results, tmp_path, prefix)
    finally:
        (results / "model").chmod(0o755)
    assert stderr_line == f"Error: cannot write {target}: permission denied"


def test_snakemake_run_on_a_full_disk_shows_the_message_not_a_traceback(tmp_path):
    """What a user of `snakemake` sees when results/ fills up: the failed rule and one line naming the file."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(MINIATURE))
    mount_tmpfs(tmp_path / "results", "size=64k")
    try:
        result = run_snakemake(tmp_path, "results/mini/prepared/store.h5")
    finally:
        subprocess.run(["umount", str(tmp_path / "results")], check=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Error in rule synthesise_cohort" in output
    assert "Error: cannot write results/mini/cohort" in output and ": no space left on device" in output
    log_text = (tmp_path / "logs" / "mini" / "cohort" / "synthesise.log").read_text()
    assert "no space left on device" in log_text and "Traceback" not in log_text


def test_an_os_error_is_a_message_only_where_it_names_a_file():
    full = known_failure(OSError(errno.ENOSPC, "No space left on device", "results/mini/scores.csv"))
    assert str(full) == "cannot write results/mini/scores.csv: no space left on device"
    # Permission errors may come from reading an input: named, but not called a write.
    assert str(known_failure(PermissionError(errno.EACCES, "Permission denied", "in.png"))) == "in.png: permission denied"
    assert known_failure(OSError(errno.EIO, "Input/output error", "x")) is None  # a traceback is more useful
    assert known_failure(OSError(errno.ENOSPC, "No space left on device")) is None  # no file to name
