"""A cohort copied or remounted (new timestamps, same files) is not prepared again; a changed one is.

prepare takes the user's folder as `ancient` input and records its contents (diffseg.data.contents)
among its params, so that only Snakemake's params trigger, not a timestamp, reruns it.
"""

from __future__ import annotations

import os
import time

import pytest
import yaml

from conftest import linked_sample, require_sample, run_snakemake

PREPARED = "results/remount/prepared/manifest.csv"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A workdir whose folder cohort of 6 real images has been prepared."""
    workdir = tmp_path_factory.mktemp("remount")
    linked_sample(require_sample(), workdir / "cohort", 6)
    config = {"dataset": {"name": "remount", "source": "folder", "size": 32,
                          "folder": {"images": str(workdir / "cohort" / "images")}}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, PREPARED)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir


def _planned(workdir) -> str:
    result = run_snakemake(workdir, PREPARED, "--dry-run")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def test_new_timestamps_on_the_same_files_prepare_nothing(prepared):
    later = time.time() + 3600
    for folder in ("images", "masks"):
        os.utime(prepared / "cohort" / folder, (later, later))
        for file in (prepared / "cohort" / folder).iterdir():
            os.utime(file, (later, later), follow_symlinks=False)
    assert "Nothing to be done" in _planned(prepared)


def test_an_added_image_or_mask_prepares_the_cohort_again(prepared, tmp_path):
    images = prepared / "cohort" / "images"
    extra = next(p for p in sorted(require_sample().joinpath("images").glob("ISIC_*.jpg"))
                 if not (images / p.name).exists())
    (images / extra.name).symlink_to(extra)
    try:
        plan = _planned(prepared)
        assert "checkpoint prepare:" in plan and "Params have changed" in plan, plan[-3000:]
    finally:
        (images / extra.name).unlink()
    mask = next((prepared / "cohort" / "masks").iterdir())
    target = mask.resolve()
    mask.unlink()
    try:
        assert "Params have changed" in _planned(prepared)
    finally:
        mask.symlink_to(target)
    assert "Nothing to be done" in _planned(prepared)
