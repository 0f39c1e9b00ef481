"""Peak memory of every stage for a cohort of 200 and of 2 000 images, side by side.

Runs the whole pipeline twice in a temporary folder, on synthetic cohorts of 200 and 2 000 images
(the embedded default's 3 : 2 lesion : healthy mix, 32-px models, 20 training steps, two noise
steps, one draw, shards of 32 images), and reads each rule's peak resident memory (`max_rss`, MiB)
from the benchmark TSVs Snakemake writes for every job; a sharded rule shows its largest shard.
A stage whose peak grows with the cohort (ratio > 1.2 and more than 20 MiB) is flagged.

    PYTHONPATH=src nice python benchmarks/stage_memory.py [--cores 2] [--keep results-folder]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from dag_build import snakemake_command, workflow_folder

from diffseg.reports.job_costs import benchmark_records

COHORTS = (200, 2000)
GROWTH_RATIO, GROWTH_MIB = 1.2, 20
# Everything but the cohort's size set as small as the pipeline allows: memory, not quality, is measured.
SMALL_RUN = {
    "dataset": {"source": "synthetic", "size": 32, "synthetic": {"image_size": 64}},
    "model": {"preset": "tiny"},
    "train": {"steps": 20, "checkpoint_every": 20},
    "extraction": {"steps": [100, 150], "draws": 1, "shard_size": 32},
    "unet": {"steps": 20},
    "metrics": {"bootstrap": 100},
}


def run_pipeline(folder: Path, config: dict, cores: int, targets: tuple[str, ...] = ()) -> float:
    """Build `targets` (default: the whole default target) with `config` (a config file's content)
    in `folder`; returns the seconds it took."""
    configfile = folder / "benchmark_config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    options = ["--cores", str(cores), "--resources", "gpu=1", "--configfile", str(configfile)]
    # Targets first: --configfile takes every word after it.
    command = snakemake_command(folder, *targets, *options)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        output = folder / "snakemake_output.txt"
        output.write_text(result.stdout + result.stderr)
        raise RuntimeError(f"snakemake failed in {folder} (whole output: {output}):\n{result.stderr[-3000:]}")
    return seconds


def stage_benchmarks(folder: Path, dataset: str) -> pd.DataFrame:
    """One row per job of `dataset` from Snakemake's benchmark TSVs (`diffseg.reports.job_costs`): `stage`,
    `job` (the TSV's name: `shard-0003`, `train_ddpm`), `s`, `max_rss`."""
    jobs = benchmark_records(folder / "logs" / dataset)
    if jobs.empty:
        raise RuntimeError(f"no benchmark TSVs under {folder / 'logs' / dataset}")
    return jobs.assign(job=jobs["path"].str.rsplit("/", n=1).str[-1])


def cohort_config(n_images: int) -> dict:
    """The small run on a synthetic cohort of `n_images` images, 3 lesion for 2 healthy."""
    config = yaml.safe_load(yaml.safe_dump(SMALL_RUN))  # a deep copy
    n_lesion = n_images * 3 // 5
    config["dataset"]["name"] = f"cohort{n_images}"
    config["dataset"]["synthetic"].update(n_lesion=n_lesion, n_healthy=n_images - n_lesion)
    return config


def peak_per_stage(folder: Path, n_images: int, cores: int) -> tuple[pd.DataFrame, float]:
    """Largest max_rss and job count per stage of one run on `n_images` images, and its seconds."""
    config = cohort_config(n_images)
    seconds = run_pipeline(folder, config, cores)
    jobs = stage_benchmarks(folder, config["dataset"]["name"])
    return jobs.groupby("stage").agg(max_rss=("max_rss", "max"), jobs=("job", "count")), seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = workflow_folder(args.keep or Path(tmp) / "run")
        peaks = {}
        for n_images in COHORTS:
            peaks[n_images], seconds = peak_per_stage(folder, n_images, args.cores)
            print(f"{n_images} images: whole run {seconds:.0f} s, {int(peaks[n_images]['jobs'].sum())} jobs")
        small, large = (peaks[n] for n in COHORTS)
        table = small.add_suffix("_small").join(large.add_suffix("_large"), how="outer")
        print_table(table)


def print_table(table: pd.DataFrame) -> None:
    small, large = COHORTS
    print("\npeak memory (max_rss, MiB) per stage; sharded stages: their largest shard")
    print(f"{'stage':<26} {f'{small} img':>9} {f'{large} img':>9} {'ratio':>6} {'jobs':>9}")
    for stage, row in table.iterrows():
        ratio = row["max_rss_large"] / row["max_rss_small"]
        grows = ratio > GROWTH_RATIO and row["max_rss_large"] - row["max_rss_small"] > GROWTH_MIB
        jobs = f"{row['jobs_small']:.0f}/{row['jobs_large']:.0f}"
        flag = "  <- grows with the cohort" if grows else ""
        print(f"{stage:<26} {row['max_rss_small']:9.1f} {row['max_rss_large']:9.1f} {ratio:6.2f} {jobs:>9}{flag}")


if __name__ == "__main__":
    main()
