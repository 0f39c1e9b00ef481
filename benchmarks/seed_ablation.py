"""What the diffusion maps add beyond the centre prior, on a finished benchmark's development split.

The chosen candidate's DenseCRF, with and without its colour model, fuses every development image
from the run's mean-mask vote; the same DenseCRF with the colour model fuses it from centred discs
(`diffseg.evaluation.seed_ablation.DISC_SEEDS`); Otsu is the training-free reference. Dice at the model's
resolution against the store's masks. Writes one row per seed and fusion to `--out` (the CSV that
docs/benchmark.md's seed section is written from).

    PYTHONPATH=src python benchmarks/seed_ablation.py results/benchmark_isic2017 \
        --out benchmarks/cpu/seed_ablation_isic2017.csv
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from diffseg.data.maps import read_maps
from diffseg.data.store import ImageStore
from diffseg.evaluation.metrics import segmentation_scores
from diffseg.evaluation.otsu_baseline import OtsuParams, otsu_segment
from diffseg.evaluation.seed_ablation import (
    DISC_SEEDS,
    OTSU,
    VOTE_SEED,
    centre_disc_seed,
    disc_name,
    fused_dice,
    summary_row,
)
from diffseg.evaluation.selection import read_choice
from diffseg.method.crf import CRFParams
from diffseg.runtime.atomic import write_csv

# The candidate's crf settings that are not DenseCRF's parameters (the authors' rounds variant).
NOT_CRF_PARAMS = ("rounds", "subset", "seed")


def chosen_crf(root: Path) -> tuple[str, CRFParams]:
    """The chosen candidate's name and DenseCRF parameters (its mean-mask fusion)."""
    choice = read_choice(root / "selection" / "chosen.yaml")
    settings = dict(choice["override"].get("crf", {}))
    if settings.get("rounds"):
        raise SystemExit(f"{choice['candidate']} fuses K random subsets (crf.rounds); this compares mean-mask seeds")
    return choice["candidate"], CRFParams(**{k: v for k, v in settings.items() if k not in NOT_CRF_PARAMS})


def development_votes(root: Path, candidate: str) -> tuple[np.ndarray, np.ndarray]:
    """Store positions and mean masks of the candidate's development images, in shard order."""
    shards = sorted((root / "candidate" / candidate / "dev" / "regions").glob("shard-*.h5"))
    if not shards:
        raise SystemExit(f"no development regions of {candidate} under {root}: run the benchmark first")
    maps = [read_maps(path, "mean") for path in shards]
    return np.concatenate([m["index"] for m in maps]), np.concatenate([m["mean"] for m in maps]).astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a benchmark's results root, e.g. results/benchmark_isic2017")
    parser.add_argument("--out", type=Path, required=True, help="the CSV to write")
    parser.add_argument("--bootstrap", type=int, default=2000)
    args = parser.parse_args(argv)
    candidate, params = chosen_crf(args.root)
    if not params.colour_weight:
        raise SystemExit(f"{candidate} fuses without the colour model (crf.colour_weight 0): no seed to compare")
    positions, votes = development_votes(args.root, candidate)
    with ImageStore(args.root / "dev" / "prepared" / "store.h5") as store:
        images, truths = store.images(positions), store.masks(positions).astype(bool)
    truth_fraction = truths.mean(axis=(1, 2))
    otsu = [segmentation_scores(otsu_segment(image, OtsuParams()), truth)["dice"] for image, truth in zip(images, truths, strict=True)]
    vote = [segmentation_scores(v >= 0.5, truth)["dice"] for v, truth in zip(votes, truths, strict=True)]
    fused = fused_dice(images, truths, votes, params)  # every row is compared with this one, paired

    def row(seed: str, crf: bool, colour_weight: float, dice) -> dict:
        return summary_row(seed, crf, colour_weight, dice, truth_fraction, fused, args.bootstrap)

    rows = [
        row(OTSU, False, 0.0, otsu),
        row(VOTE_SEED, False, 0.0, vote),
        row(VOTE_SEED, True, 0.0, fused_dice(images, truths, votes, replace(params, colour_weight=0.0))),
        row(VOTE_SEED, True, params.colour_weight, fused),
    ]
    for core, ring in DISC_SEEDS:
        rows.append(row(disc_name(core, ring), True, params.colour_weight,
                        fused_dice(images, truths, centre_disc_seed(images.shape[1], core, ring), params)))
        print(rows[-1]["seed"], f"{rows[-1]['dice']:.3f}", flush=True)
    table = pd.DataFrame(rows)
    table.insert(0, "candidate", candidate)
    table.insert(0, "benchmark", args.root.name)
    write_csv(table, args.out)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
