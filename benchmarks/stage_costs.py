"""Time per image of every stage of the embedded default, and DenseCRF per 256×256 image, in one run.

Prints, side by side,
  (a) per-stage seconds per image of a real run of the embedded default (config/config.yaml:
      400 synthetic images, 64-px tiny model, 10 noise steps × 4 draws, shards of 64), read from
      Snakemake's benchmark TSVs: `prepare` per stored image, every per-shard stage per test image
      it scores (the sum over its shards' jobs, each job's interpreter start included). Training is
      shortened (--train-steps): it is a fixed cost, not a per-image one, and shows as its own line;
  (b) the start of one job's interpreter with the package's heavy imports, the fixed part of a job;
  (c) `diffseg.method.crf.crf_fuse` on 256×256 synthetic images with a soft ten-step vote (target ≤ 0.1 s).

    PYTHONPATH=src nice python benchmarks/stage_costs.py [--cores 2] [--train-steps 60]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from dag_build import REPO, workflow_folder
from stage_memory import run_pipeline, stage_benchmarks

from diffseg.data.synthetic import synthesise_case
from diffseg.method.crf import CRFParams, crf_fuse

# The stages issue 7 asks for, in pipeline order; the others of a run are shown after them.
PER_IMAGE_STAGES = ["prepare", "extract_noise", "threshold", "ged", "crf_fuse", "metrics"]
FIXED_STAGES = ["synthesise", "train_ddpm", "train_unet", "join_diffs", "ged_summary", "table1"]
CRF_SIZE, CRF_STEPS, CRF_SHIFT = 256, 10, 6
CRF_TARGET_S = 0.1


def default_run_costs(folder: Path, cores: int, train_steps: int) -> tuple[pd.DataFrame, int, int]:
    """Per-stage seconds of a run of the embedded default in `folder`, and the numbers of stored and
    scored (test, lesion) images."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.setdefault("train", {}).update(steps=train_steps, checkpoint_every=train_steps)
    config.setdefault("unet", {}).update(steps=train_steps)
    root = f"results/{config['dataset']['name']}"
    run_pipeline(folder, config, cores, (f"{root}/evaluation/table1.csv", f"{root}/diffs.h5"))
    manifest = pd.read_csv(folder / root / "prepared" / "manifest.csv")
    scored = int(((manifest["split"] == "test") & (manifest["label"] == 1)).sum())
    jobs = stage_benchmarks(folder, config["dataset"]["name"])
    costs = jobs.groupby("stage").agg(seconds=("s", "sum"), jobs=("job", "count"))
    return costs, len(manifest), scored


def job_start_seconds(repeats: int = 3) -> float:
    """Fastest start of a fresh interpreter importing what a rule script imports (torch, h5py, the store)."""
    command = [sys.executable, "-c", "import torch, h5py, diffseg.data.store, diffseg.method.extraction"]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def soft_vote(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The mean of `CRF_STEPS` copies of `mask` shifted by up to `CRF_SHIFT` px: a per-step vote that
    disagrees along the border, as the pipeline's does."""
    shifts = rng.integers(-CRF_SHIFT, CRF_SHIFT + 1, size=(CRF_STEPS, 2))
    return np.mean([np.roll(mask, tuple(shift), axis=(0, 1)) for shift in shifts], axis=0, dtype=np.float32)


def crf_seconds_per_image(n_images: int) -> tuple[float, float]:
    """Mean and slowest seconds of `crf_fuse` (default parameters) on 256×256 images."""
    rng = np.random.default_rng(0)
    params = CRFParams()
    cases = [synthesise_case(rng, CRF_SIZE) for _ in range(n_images)]
    crf_fuse(cases[0][0], soft_vote(cases[0][1], rng), params)  # warm-up
    times = []
    for image, mask in cases:
        prob = soft_vote(mask, rng)
        start = time.perf_counter()
        crf_fuse(image, prob, params)
        times.append(time.perf_counter() - start)
    return float(np.mean(times)), float(np.max(times))


def print_costs(costs: pd.DataFrame, stored: int, scored: int) -> None:
    print(f"(a) embedded default, {stored} images stored, {scored} scored (test split, lesion)")
    print(f"    {'stage':<16} {'jobs':>5} {'job s':>8} {'s / image':>10}")
    per_shard = [s for s in costs.index if s not in FIXED_STAGES and "/" not in s and s != "prepare"]
    ordered = PER_IMAGE_STAGES + sorted(set(per_shard) - set(PER_IMAGE_STAGES))
    for stage in ordered:
        images = stored if stage == "prepare" else scored
        row = costs.loc[stage]
        print(f"    {stage:<16} {row['jobs']:5.0f} {row['seconds']:8.1f} {row['seconds'] / images:10.3f}")
    for stage in FIXED_STAGES:
        if stage in costs.index:
            print(f"    {stage:<16} {costs.loc[stage, 'jobs']:5.0f} {costs.loc[stage, 'seconds']:8.1f}   (fixed)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=60, help="DDPM and U-Net steps (default run: 600)")
    parser.add_argument("--crf-images", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = workflow_folder(args.keep or Path(tmp) / "run")
        costs, stored, scored = default_run_costs(folder, args.cores, args.train_steps)
    print_costs(costs, stored, scored)
    print(f"(b) one job's interpreter start with torch, h5py and the package: {job_start_seconds():.2f} s")
    mean, slowest = crf_seconds_per_image(args.crf_images)
    print(
        f"(c) DenseCRF {CRF_SIZE}×{CRF_SIZE}, {CRFParams().iterations} iterations, {args.crf_images} images: "
        f"{mean:.3f} s / image (slowest {slowest:.3f} s; target ≤ {CRF_TARGET_S} s)"
    )


if __name__ == "__main__":
    main()
