"""Shared fixtures: paths of the repository and of the shared real ISIC 2017 sample."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# The shared real sample (not part of the repository): DIFFSEG_ISIC_SAMPLE, else beside the checkout,
# else where this project's machines keep it.
_SAMPLE_PLACES = [
    os.environ.get("DIFFSEG_ISIC_SAMPLE"),
    REPO.parent / "shared" / "data" / "isic2017_sample",
    "/work/shared/data/isic2017_sample",
]
ISIC_SAMPLE = next((Path(p) for p in _SAMPLE_PLACES if p and (Path(p) / "images").is_dir()), Path(_SAMPLE_PLACES[1]))

# Unit tests share two cores with whatever else runs; one thread per test process keeps them steady.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def require_sample(sample: Path = ISIC_SAMPLE) -> Path:
    """`sample` when it holds images/ and masks/. Where it does not, the test is skipped, except under
    CI, where it fails: the real-data checks (the official scorer's cross-check among them) must not
    pass by not running."""
    if not ((sample / "images").is_dir() and (sample / "masks").is_dir()):
        reason = f"the shared ISIC 2017 sample is not at {sample} (images/ and masks/; set DIFFSEG_ISIC_SAMPLE)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the real-data tests, but {reason}")
        pytest.skip(reason)
    return sample


def linked_sample(sample: Path, cohort: Path, count: int, start: int = 0) -> list[Path]:
    """`count` images of `sample` from the `start`-th in id order, and their masks, linked into
    `cohort`/images and /masks (a folder cohort of real images without copying them); returns the
    linked images' sample paths."""
    images, masks = cohort / "images", cohort / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    chosen = sorted((sample / "images").glob("ISIC_*.jpg"))[start : start + count]
    for image in chosen:
        (images / image.name).symlink_to(image)
        mask = f"{image.stem}_segmentation.png"
        (masks / mask).symlink_to(sample / "masks" / mask)
    return chosen


@pytest.fixture(scope="session")
def isic_sample() -> Path:
    """The 98 real ISIC 2017 images with masks beside the checkout (not part of the repository)."""
    return require_sample()


# A miniature of the embedded default: every stage and the sharding stay real (three shards), but
# training is a few dozen steps, so a whole run takes about a minute on two cores.
MINIATURE = {
    "dataset": {"name": "mini", "size": 32, "synthetic": {"n_lesion": 28, "n_healthy": 12, "image_size": 48}},
    "train": {"steps": 40, "batch_size": 8, "checkpoint_every": 10},
    "extraction": {"steps": [60, 100, 150], "draws": 1, "shard_size": 4},
    "unet": {"steps": 20, "batch_size": 8, "base_channels": 8},
    "metrics": {"bootstrap": 200},
}


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The pipeline run in `workdir` with `workdir/config.yaml`, as a user would start it."""
    return [str(Path(sys.executable).parent / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir),
            "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args]


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_command(workdir, *args), capture_output=True, text=True, timeout=1200)


def miniature_workdir(tmp_path_factory, name: str) -> Path:
    """A fresh working directory holding the miniature config."""
    workdir = tmp_path_factory.mktemp(name)
    (workdir / "config.yaml").write_text(yaml.safe_dump(MINIATURE))
    return workdir


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """The miniature pipeline run once, uninterrupted; its `results/mini` folder."""
    workdir = miniature_workdir(tmp_path_factory, "pipeline")
    result = run_snakemake(workdir)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return workdir / "results" / "mini"
