"""Development-split training curves on real images: how DiffSeg's Dice moves with DDPM training.

The benchmark (docs/benchmark.md) trains one DDPM for a fixed number of steps. This script answers
what a larger budget would give, on the *development* split the benchmark selects on (never its
test images): it builds the same store (official training split minus a seeded development split,
`carve_dev_split`, dataset.seed 0), trains each variant (preset, resolution, label dropout) in
stages that resume from the checkpoint (`train_ddpm`), and after each stage segments the
development images with every step set. Per stage it records the DiffSeg best single step (chosen on
these same images: an upper bound on the step choice, not a test figure) and the mean-mask vote,
with the training-free Otsu baseline on the same images at the same resolution. DenseCRF is left out
(`pydensecrf` is not always installable on GPU nodes); Dice is scored at the model's resolution.

Rows go to `--out`/dev_curve.csv after each stage (atomic rewrites), so a run stopped at its
`--deadline` keeps every finished stage.

    PYTHONPATH=src python benchmarks/dev_curve.py --data ../shared/data/isic2017 --out /tmp/curve \
        --variant tiny:64:0.1:1000,2000,4000 --deadline 3000
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from diffseg.data.cohort import assign_splits, scan_folder
from diffseg.data.healthy import CROP_SCALES, border_crops
from diffseg.data.lesion_views import lesion_training_set
from diffseg.data.shards import evaluation_positions
from diffseg.data.splits import DEV_SPLIT, carve_dev_split, official_splits
from diffseg.data.store import ImageStore, write_store
from diffseg.evaluation.breakdown import images_by_size, mean_by_size
from diffseg.evaluation.metrics import ranking_auc, segmentation_scores
from diffseg.evaluation.otsu_baseline import OtsuParams, darkness_map, otsu_segment
from diffseg.evaluation.statistics import bootstrap_ci
from diffseg.method.extraction import ExtractionSettings, iter_differences
from diffseg.method.model import load_model
from diffseg.method.regions import majority_vote
from diffseg.method.semantics import HEALTHY, LESION
from diffseg.method.threshold import normalise_map, step_masks
from diffseg.method.training import NetworkSpec, TrainingPaths, TrainSettings, train_ddpm
from diffseg.runtime.atomic import write_csv
from diffseg.runtime.device import device_name, pick_device

# The step sets of config/benchmark_*.yaml's candidates (60 … 150 is the paper's).
STEP_SETS = {
    "steps_60_150": list(range(60, 151, 10)),
    "steps_150_400": list(range(150, 401, 25)),
    "steps_200_500": list(range(200, 501, 30)),
}


@dataclass(frozen=True)
class Variant:
    """One DDPM trained in stages: preset, image side, label dropout, the steps after each stage and
    the scale of its healthy border crops (`healthy.crop_scale`)."""

    preset: str
    size: int
    label_dropout: float
    stages: tuple[int, ...]
    crop_scale: str = "enlarge"
    lesion_zooms: tuple[float, ...] = ()

    @property
    def name(self) -> str:
        scale = "" if self.crop_scale == "enlarge" else f"_{self.crop_scale}"
        zooms = "_zoom" + "+".join(f"{z:g}" for z in self.lesion_zooms) if self.lesion_zooms else ""
        return f"{self.preset}_{self.size}px_dropout{self.label_dropout:g}{scale}{zooms}"

    @classmethod
    def parse(cls, text: str) -> Variant:
        """`preset:size:label_dropout:steps,steps,…[:crop_scale][:zoom=z+z…]` (stages in increasing
        order; `zoom=` the `lesion_views.zooms` of the lesion class's centre crops)."""
        preset, size, dropout, stages, *options = text.split(":")
        steps = tuple(int(s) for s in stages.split(","))
        if list(steps) != sorted(set(steps)):
            raise argparse.ArgumentTypeError(f"{text}: stages must increase")
        scale, zooms = "enlarge", ()
        for option in options:
            if option.startswith("zoom="):
                zooms = tuple(float(z) for z in option.removeprefix("zoom=").split("+"))
            elif option in CROP_SCALES:
                scale = option
            else:
                raise argparse.ArgumentTypeError(f"{text}: {option!r} is neither zoom=… nor one of {CROP_SCALES}")
        return cls(preset, int(size), float(dropout), steps, scale, zooms)


def build_store(data: Path, size: int, dev_fraction: float, out: Path) -> Path:
    """The benchmark's store of `data` (images/, masks/, manifest.csv with `split` train/val) at `size`."""
    cohort = scan_folder(data / "images", data / "masks")
    cohort = official_splits(
        cohort, data / "manifest.csv", column="split", train="train", test="val", id_column="id", group=None, keep=[]
    )
    cohort = carve_dev_split(assign_splits(cohort, 0.3, 0), dev_fraction, 0, None)
    path = out / f"store_{size}.h5"
    if not path.exists():
        write_store(path, cohort, size, "folder")
    return path


# The scores of `dev_dice` that a row holds as JSON: per step, and by lesion size.
JSON_SCORES = ("per_step_dice", "vote_dice_by_size", "images_by_size", "map_auc_by_size")


def dev_dice(unet, store: ImageStore, positions: np.ndarray, steps: list[int], draws: int) -> dict:
    """Mean Dice of each step's Otsu mask and of the vote over the steps, on `positions`."""
    per_step, vote, truth_fraction, map_auc = [], [], [], []
    images = ((store.ids[p], store.image(p)) for p in positions)
    settings = ExtractionSettings(steps=steps, draws=draws)
    for (_, diffs, _), p in zip(iter_differences(unet, images, settings), positions, strict=True):
        truth = store.mask(p).astype(bool)
        truth_fraction.append(truth.mean())
        # Threshold-free: does the mean map rank lesion above skin pixels (smoothed as `step_masks` does)?
        map_auc.append(ranking_auc(normalise_map(diffs.mean(axis=0)), truth))
        masks = step_masks(diffs)
        per_step.append([segmentation_scores(m, truth)["dice"] for m in masks])
        vote.append(segmentation_scores(majority_vote(masks), truth)["dice"])
    per_step, vote = np.asarray(per_step), np.asarray(vote)
    best = int(np.argmax(per_step.mean(axis=0)))
    return {
        "best_t": steps[best],
        "best_step_dice": float(per_step[:, best].mean()),
        "vote_dice": float(np.mean(vote)),
        "vote_ci": bootstrap_ci(vote),
        "per_step_dice": [round(float(d), 4) for d in per_step.mean(axis=0)],
        # The vote's Dice by the true lesion's share of the frame (`breakdown.SIZE_BINS`).
        "vote_dice_by_size": _by_size(vote, truth_fraction),
        "map_auc_by_size": _by_size(map_auc, truth_fraction),
        "images_by_size": images_by_size(truth_fraction),
    }


def _by_size(values, truth_fraction) -> dict[str, float]:
    """`breakdown.mean_by_size`, rounded for the CSV."""
    return {name: round(mean, 4) for name, mean in mean_by_size(values, truth_fraction).items()}


def otsu_scores(store: ImageStore, positions: np.ndarray) -> tuple[list[float], dict[str, float]]:
    """The training-free baseline on `positions`, each image read once: Otsu's Dice per image, and
    how well its smoothed darkness map ranks lesion above skin pixels, by lesion size."""
    params = OtsuParams()
    dice, auc, truth_fraction = [], [], []
    for p in positions:
        image, truth = store.image(p), store.mask(p).astype(bool)
        dice.append(segmentation_scores(otsu_segment(image, params), truth)["dice"])
        auc.append(ranking_auc(darkness_map(image, params.smooth_sigma, params.channels), truth))
        truth_fraction.append(truth.mean())
    return dice, _by_size(auc, truth_fraction)


def run_variant(variant: Variant, store_path: Path, out: Path, rows: list[dict], args, device, deadline: float) -> None:
    work = out / variant.name
    with ImageStore(store_path) as store:
        lesions = store.images(evaluation_positions(store.split, store.label, "train"))
        dev = np.flatnonzero(store.split == DEV_SPLIT)[: args.dev_images]
        healthy = border_crops(lesions, 0.25, 4, variant.crop_scale)
        lesions = lesion_training_set(lesions, variant.lesion_zooms)
        images = np.concatenate([lesions, healthy])
        labels = np.repeat([LESION, HEALTHY], [len(lesions), len(healthy)])
        otsu, darkness_auc = otsu_scores(store, dev)
        previous, trained_seconds = 0, 0.0
        for stage in variant.stages:
            expected = trained_seconds / max(previous, 1) * (stage - previous)
            if previous and time.monotonic() + expected * 1.2 + 30 > deadline:
                print(f"{variant.name}: stopping before {stage} steps (deadline)", flush=True)
                return
            settings = TrainSettings(
                steps=stage, batch_size=args.batch_size, label_dropout=variant.label_dropout, checkpoint_every=10**9
            )
            paths = TrainingPaths(work, work / "ema", work / "loss.csv")
            network = NetworkSpec(variant.preset, variant.size, device)
            start = time.monotonic()
            train_ddpm(images, labels, paths, settings, network)
            trained_seconds += time.monotonic() - start
            unet = load_model(work / "ema", device)
            for step_set in args.step_sets:
                steps = STEP_SETS[step_set]
                scores = dev_dice(unet, store, dev, steps, args.draws)
                rows.append(
                    {
                        "variant": variant.name,
                        "device": device_name(device),
                        "preset": variant.preset,
                        "size": variant.size,
                        "label_dropout": variant.label_dropout,
                        "crop_scale": variant.crop_scale,
                        "lesion_zooms": "+".join(f"{z:g}" for z in variant.lesion_zooms),
                        "batch_size": args.batch_size,
                        "train_steps": stage,
                        "train_seconds": round(trained_seconds, 1),
                        "step_set": step_set,
                        "dev_images": len(dev),
                        "otsu_dice": round(float(np.mean(otsu)), 4),
                        **{key: scores[key] for key in ("best_t", "best_step_dice", "vote_dice")},
                        "vote_ci_low": round(scores["vote_ci"][0], 4),
                        "vote_ci_high": round(scores["vote_ci"][1], 4),
                        **{key: json.dumps(scores[key], ensure_ascii=False) for key in JSON_SCORES},
                        "darkness_auc_by_size": json.dumps(darkness_auc, ensure_ascii=False),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
                write_csv(pd.DataFrame(rows), out / "dev_curve.csv")
            previous = stage




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="ISIC 2017 folder: images/, masks/, manifest.csv")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variant", type=Variant.parse, action="append", required=True)
    parser.add_argument("--dev-fraction", type=float, default=0.1)
    parser.add_argument("--dev-images", type=int, default=10**6, help="score at most this many development images")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--step-sets", nargs="+", choices=list(STEP_SETS), default=list(STEP_SETS),
                        help="score only these step sets (each costs a pass over the development images)")
    parser.add_argument("--deadline", type=float, default=10**9, help="seconds from the start to stop by")
    args = parser.parse_args()
    deadline = time.monotonic() + args.deadline
    args.out.mkdir(parents=True, exist_ok=True)
    device = pick_device()
    rows: list[dict] = []
    for index, variant in enumerate(args.variant):
        # Each variant gets an equal share of the time left, so the first cannot starve the others.
        share = (deadline - time.monotonic()) / (len(args.variant) - index)
        store_path = build_store(args.data, variant.size, args.dev_fraction, args.out)
        run_variant(variant, store_path, args.out, rows, args, device, time.monotonic() + share)


if __name__ == "__main__":
    main()
