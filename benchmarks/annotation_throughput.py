"""Annotation throughput: the student path against the diffusion path, side by side in one run.

Both segment the same images of a cohort folder (default: 64 of ../shared/data/unlabeled/images),
decoded once into a store at the run's resolution (decoding, the same for both paths, is timed apart):

- the diffusion path: noise differences under both semantics at every chosen step (`extract_shard`,
  2 × |steps| DDPM passes per image), per-step thresholds, consistent/ambiguous regions and DenseCRF
  with the chosen settings (darkness seed included), as `make annotate` runs them;
- the student path: the DiffSeg student under four flips (`predict_student`) and its mask at 0.5.

The run folder (`--run`, default results/benchmark_isic2017) gives the DDPM, the student and the
settings (diffseg.trained_run: its configuration with its chosen candidate). Prints images/s of each
path and their ratio, measured in the same process one after the other, and writes them as JSON.

    PYTHONPATH=src python benchmarks/annotation_throughput.py [--run results/<run>] [--images 64] \
        [--out benchmarks/cpu/annotation_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from diffseg.data.cohort import scan_folder
from diffseg.data.store import ImageStore, write_store
from diffseg.evaluation.otsu_baseline import OtsuParams, otsu_segment
from diffseg.evaluation.pseudo_labels import pseudo_label_cohort
from diffseg.evaluation.student import predict_student
from diffseg.method.crf import crf_shard, split_crf_section
from diffseg.method.darkness_seed import DarknessSeed
from diffseg.method.extraction import ExtractionSettings, extract_shard
from diffseg.method.model import load_model
from diffseg.method.regions import regions_shard
from diffseg.method.threshold import ThresholdSettings, threshold_shard
from diffseg.runtime.device import pick_device
from diffseg.trained_run import TrainedRun

REPO = Path(__file__).resolve().parents[1]


def diffusion_path(store: ImageStore, positions: np.ndarray, config: dict, model: str, work: Path) -> None:
    """The diffusion path on `positions` of `store`, with the run's settings (`config`)."""
    device = pick_device()
    extraction, semantics = config["extraction"], config["semantics"]
    unet = load_model(model, device, config["model"]["preset"], store.size)
    settings = ExtractionSettings(
        steps=extraction["steps"], draws=extraction["draws"], semantic_a=semantics["a"], semantic_b=semantics["b"],
        reduce=config["difference"]["reduce"], base_seed=extraction["seed"],
    )
    extract_shard(store, positions, unet, work / "diffs.h5", settings, batch_size=extraction["batch_size"], example_ids=[])
    polarity = "low" if config["difference"]["reduce"] == "luma_signed" else "high"
    threshold_shard(work / "diffs.h5", work / "steps.h5", ThresholdSettings(**config["threshold"]), polarity=polarity)
    regions_shard(work / "steps.h5", work / "regions.h5")
    params, shard = split_crf_section(config["crf"])
    otsu = OtsuParams(**config["otsu"])
    darkness = DarknessSeed(shard["darkness_weight"], shard["darkness_when_ambiguous"], lambda image: otsu_segment(image, otsu))
    crf_shard(store, work / "steps.h5", work / "regions.h5", work / "fused.h5", params, rounds=shard["rounds"],
              subset=shard["subset"], seed=shard["seed"], darkness=darkness)


def student_path(store: ImageStore, positions: np.ndarray, model: Path) -> np.ndarray:
    probability, _ = predict_student(model, store.images(positions), pick_device())
    return probability > 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=str(REPO / "results" / "benchmark_isic2017"))
    parser.add_argument("--cohort", default=str(REPO.parent / "shared" / "data" / "unlabeled" / "images"))
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = TrainedRun.from_folder(args.run)
    student = Path(args.run) / "student" / "diffseg" / "model.pt"
    if not student.is_file():
        raise SystemExit(f"{student} is missing: the run has no student (config student.enabled)")
    config = run.annotation_config(run.config)
    cohort = pseudo_label_cohort(scan_folder(args.cohort), args.images, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        write_store(work / "store.h5", cohort, config["dataset"]["size"], "throughput")
        decode = time.perf_counter() - start
        with ImageStore(work / "store.h5") as store:
            positions = np.arange(len(store.ids))
            student_path(store, positions[:2], student)  # warm-up: the first call loads and traces
            start = time.perf_counter()
            student_path(store, positions, student)
            student_s = time.perf_counter() - start
            start = time.perf_counter()
            diffusion_path(store, positions, config, run.require_model(), work)
            diffusion_s = time.perf_counter() - start
    n = len(positions)
    result = {
        "images": n, "size": config["dataset"]["size"], "steps": len(config["extraction"]["steps"]),
        "preset": config["model"]["preset"], "threads": args.threads, "device": str(pick_device()),
        "decode_images_per_s": n / decode, "student_images_per_s": n / student_s,
        "diffusion_images_per_s": n / diffusion_s, "student_over_diffusion": diffusion_s / student_s,
        "run": str(args.run), "candidate": run.candidate,
    }
    print(f"{n} images at {result['size']} px, {args.threads} threads on {result['device']}:")
    print(f"  decoding into the store: {result['decode_images_per_s']:.1f} images/s (both paths)")
    print(f"  student path:   {result['student_images_per_s']:.1f} images/s")
    print(f"  diffusion path: {result['diffusion_images_per_s']:.2f} images/s ({result['steps']} steps, DenseCRF)")
    print(f"  ratio: the student is {result['student_over_diffusion']:.0f}x faster")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
