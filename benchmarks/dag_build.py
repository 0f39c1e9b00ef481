"""How long `snakemake -n` takes to build the whole DAG of an ISIC-2018-sized cohort, and its job count.

Generates, in a temporary folder, the folder cohort the `download_isic2018` rule would leave
(3 694 empty images and masks, `labels.csv` with the official 2 594 / 100 / 1 000 split) and the
prepared store and manifest the `prepare` checkpoint would write, so the DAG is built past the
checkpoint down to every shard. Then times `snakemake -n --configfile config/isic2018.yaml` on it
and on a 200-image cohort of the same split proportions, and prints the seconds (the whole
command, Python start included), the number of jobs and the number of shards. Target: < 10 s, and
jobs that grow with shards, not images.

    PYTHONPATH=src python benchmarks/dag_build.py
"""

from __future__ import annotations

import argparse
import math
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from diffseg.data.isic2018 import ISIC2018_SPLIT_SIZES
from diffseg.data.store import MANIFEST_COLUMNS, SKIPPED_COLUMNS
from diffseg.runtime.atomic import write_csv

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
ISIC2018_CONFIG = REPO / "config" / "isic2018.yaml"


def workflow_folder(folder: Path) -> Path:
    """A working folder for the repository's workflow: results, logs and benchmarks land in it.

    The Snakefile names its config file relative to the working folder, so `config/` is linked in.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config").symlink_to(REPO / "config", target_is_directory=True)
    return folder


def snakemake_command(folder: Path, *args: str) -> list[str]:
    """`snakemake` on the repository's Snakefile, working in `folder`."""
    return [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(folder), *args]


def split_counts(n_images: int) -> dict[str, int]:
    """ISIC 2018's train / val / test proportions scaled to `n_images` (the full sizes at 3 694)."""
    total = sum(ISIC2018_SPLIT_SIZES.values())
    counts = {split: round(n * n_images / total) for split, n in ISIC2018_SPLIT_SIZES.items()}
    counts["train"] += n_images - sum(counts.values())
    return counts


def write_isic_like_cohort(folder: Path, n_images: int) -> pd.DataFrame:
    """The folder cohort and prepared outputs of `n_images` empty ISIC-named files; the manifest."""
    cohort_dir = folder / "data" / "isic2018" / "cohort"
    (cohort_dir / "images").mkdir(parents=True)
    (cohort_dir / "masks").mkdir()
    splits = [split for split, n in split_counts(n_images).items() for _ in range(n)]
    ids = [f"ISIC_{i:07d}" for i in range(n_images)]
    for image_id in ids:
        (cohort_dir / "images" / f"{image_id}.jpg").touch()
        (cohort_dir / "masks" / f"{image_id}_segmentation.png").touch()
    labels = pd.DataFrame({"id": ids, "label": 1, "split": splits})
    write_csv(labels, cohort_dir / "labels.csv")
    manifest = labels.assign(position=range(n_images), height=450, width=600, has_mask=True)
    # Written after the cohort, so the checkpoint's outputs are newer than its input and not rerun.
    prepared = folder / "results" / "isic2018" / "prepared"
    prepared.mkdir(parents=True)
    (prepared / "store.h5").touch()
    write_csv(manifest[MANIFEST_COLUMNS], prepared / "manifest.csv")
    write_csv(pd.DataFrame(columns=SKIPPED_COLUMNS), prepared / "skipped.csv")
    return manifest


def time_dry_run(folder: Path, configfile: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of `snakemake -n` in `folder`, and the number of jobs it plans.

    CPU seconds (user + system of the child) barely change when other work shares the cores, so
    they show the cost on a quiet machine where the wall time cannot.
    """
    command = snakemake_command(folder, "-n", "--configfile", str(configfile))
    cpu_before = _children_cpu_seconds()
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    cpu_seconds = _children_cpu_seconds() - cpu_before
    if result.returncode != 0:
        raise RuntimeError(f"snakemake -n failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    total = re.search(r"^total\s+(\d+)", result.stdout + result.stderr, flags=re.MULTILINE)
    if total is None:
        raise RuntimeError(f"no job count in the output of snakemake -n:\n{result.stdout[-3000:]}")
    return seconds, cpu_seconds, int(total.group(1))


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, sum(ISIC2018_SPLIT_SIZES.values())])
    parser.add_argument("--repeats", type=int, default=3, help="dry runs per cohort; the fastest is shown")
    args = parser.parse_args()
    shard_size = yaml.safe_load(ISIC2018_CONFIG.read_text())["extraction"]["shard_size"]
    print(f"snakemake -n --configfile {ISIC2018_CONFIG.relative_to(REPO)}, whole DAG (past the prepare checkpoint)")
    print(f"{'images':>7} {'test':>6} {'shards':>7} {'jobs':>6} {'wall s':>7} {'CPU s':>6}")
    for n_images in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = workflow_folder(Path(tmp) / "run")
            manifest = write_isic_like_cohort(folder, n_images)
            test = int((manifest["split"] == "test").sum())
            runs = [time_dry_run(folder, ISIC2018_CONFIG) for _ in range(args.repeats)]
            seconds, cpu_seconds, jobs = min(runs)
            shards = math.ceil(test / shard_size)
            print(
                f"{n_images:7d} {test:6d} {shards:7d} {jobs:6d} {seconds:7.2f} {cpu_seconds:6.2f}   (target < 10 s)"
            )


if __name__ == "__main__":
    main()
