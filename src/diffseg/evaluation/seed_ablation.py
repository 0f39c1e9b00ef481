"""What the diffusion maps add beyond the centre prior, once DenseCRF has a colour model.

With `crf.colour_weight` the fused mask depends on the vote twice: as the colour model's seed and
as part of the unary (`diffseg.method.colour_model`). Dermoscopy frames centre the lesion, so a centred
disc, which needs no model at all, can seed the same colour model. `fused_dice` fuses each image
from any seed with the run's DenseCRF settings; `benchmarks/seed_ablation.py` compares the run's
vote with centred discs on a benchmark's development split, and `seed_section` tables that CSV for
docs/benchmark.md. The best disc is chosen on the images it is scored on: an upper bound for the
prior alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from diffseg.evaluation.breakdown import SIZE_BINS, images_by_size, mean_by_size
from diffseg.evaluation.columns import require_columns
from diffseg.evaluation.metrics import segmentation_scores
from diffseg.evaluation.statistics import bootstrap_ci
from diffseg.evaluation.table import markdown_table
from diffseg.method.crf import CRFParams, crf_fuse
from diffseg.runtime.errors import BadInputError

# Centred disc seeds: (core radius, skin beyond this radius), as fractions of the image side. The core
# is the lesion seed, the outside the skin seed, and the band between is left to the colour model.
DISC_SEEDS = ((0.10, 0.30), (0.15, 0.30), (0.15, 0.375), (0.20, 0.40))
# The band's value: below the lesion seed's 0.5 and above the skin seed's 0, so it seeds neither.
UNDECIDED = 0.25
# The seed comparisons committed with the project, which docs/benchmark.md ends with.
COMMITTED_SEED_ABLATIONS = ("benchmarks/cpu/seed_ablation_isic2017.csv",)
# The run's own vote as seed, the row every disc is compared with.
VOTE_SEED = "vote"
# The training-free reference row: Otsu's mask itself, no seed and no DenseCRF.
OTSU = "Otsu"
COLUMNS = {"benchmark", "candidate", "seed", "crf", "colour_weight", "n", "dice", "ci_low", "ci_high", "minus_vote", "minus_vote_ci_low",
           "minus_vote_ci_high", *SIZE_BINS, *(f"n {name}" for name in SIZE_BINS)}


def disc_name(core: float, ring: float) -> str:
    """`disc 0.15/0.3` for a core radius of 0.15 and skin beyond 0.3 of the side."""
    return f"disc {core:g}/{ring:g}"


def centre_disc_seed(size: int, core: float, ring: float) -> np.ndarray:
    """A `(size, size)` float32 seed: 1 within `core` · size of the centre, 0 beyond `ring` · size,
    UNDECIDED between."""
    if not 0 < core < ring:
        raise ValueError(f"a disc seed needs 0 < core < ring, got core {core}, ring {ring}")
    rows, cols = np.indices((size, size))
    radius = np.hypot(rows - (size - 1) / 2, cols - (size - 1) / 2) / size
    return np.where(radius <= core, 1.0, np.where(radius >= ring, 0.0, UNDECIDED)).astype(np.float32)


def fused_dice(images: np.ndarray, truths: np.ndarray, seeds: np.ndarray, params: CRFParams) -> np.ndarray:
    """Dice of DenseCRF's labelling of each image `(n, H, W, 3)` from its seed `(n, H, W)` (or one
    seed `(H, W)` for all) against its mask `(n, H, W)`."""
    seeds = np.broadcast_to(np.asarray(seeds, dtype=np.float32), np.asarray(truths).shape)
    return np.array([
        segmentation_scores(crf_fuse(image, seed, params)[0], truth.astype(bool))["dice"]
        for image, seed, truth in zip(images, seeds, truths, strict=True)
    ])


def summary_row(
    seed: str, crf: bool, colour_weight: float, dice, truth_fraction, vote_dice, n_resamples: int = 2000
) -> dict:
    """One CSV row: mean Dice with its bootstrap CI, its paired difference from `vote_dice` (the
    vote-seeded fusion's per-image Dice) with the difference's CI, and the mean Dice and image count
    of each lesion-size bin."""
    dice = np.asarray(dice, dtype=float)
    difference = dice - np.asarray(vote_dice, dtype=float)
    low, high = bootstrap_ci(dice, n_resamples)
    difference_low, difference_high = bootstrap_ci(difference, n_resamples)
    row = {"seed": seed, "crf": crf, "colour_weight": colour_weight, "n": len(dice), "dice": dice.mean(),
           "ci_low": low, "ci_high": high, "minus_vote": difference.mean(), "minus_vote_ci_low": difference_low,
           "minus_vote_ci_high": difference_high}
    means, counts = mean_by_size(dice, truth_fraction), images_by_size(truth_fraction)
    for name in SIZE_BINS:
        row[name], row[f"n {name}"] = means.get(name, np.nan), counts[name]
    return row


def _label(row) -> str:
    if row["seed"] == OTSU:
        return "training-free Otsu, no DenseCRF"
    if row["seed"] == VOTE_SEED and not row["crf"]:
        return "the run's mean-mask vote, no DenseCRF"
    fusion = "DenseCRF" + (f" with the colour model (w = {row['colour_weight']:g})" if row["colour_weight"] else " alone")
    seed = "the run's vote" if row["seed"] == VOTE_SEED else f"centred {row['seed']}"
    return f"{seed} → {fusion}"


def seed_section(table: pd.DataFrame, source: str) -> list[str]:
    """The lines of docs/benchmark.md's section on the colour model's seeds, from `table`."""
    try:
        require_columns(table, COLUMNS, "the seed comparisons")
    except ValueError as error:
        raise BadInputError(source, str(error)) from None
    header = ["seed → fusion", "Dice [95 % CI]", *(f"{name} ({table[f'n {name}'].iloc[0]} images)" for name in SIZE_BINS)]
    rows = [[_label(row), f"{row['dice']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]",
             *(f"{row[name]:.3f}" for name in SIZE_BINS)] for _, row in table.iterrows()]
    with_colour = table[table["crf"] & (table["colour_weight"] > 0)]
    vote = with_colour[with_colour["seed"] == VOTE_SEED].iloc[0]
    disc = with_colour[with_colour["seed"] != VOTE_SEED].sort_values("dice").iloc[-1]
    return [
        "## What the diffusion maps add: the colour model's seeds",
        "",
        f"Written from `{source}` (`benchmarks/seed_ablation.py`). The DenseCRF of candidate "
        f"`{vote['candidate']}` (the one chosen when this study was run) with "
        f"the colour model (`crf.colour_weight`, docs/method.md §5) fuses each of the {int(vote['n'])} "
        f"development images of {vote['benchmark']} from a seed: the run's own mean-mask vote, or a "
        "disc centred in the frame (lesion within the first radius, skin beyond the second, as fractions "
        "of the side), which needs no model. Dice at the model's resolution.",
        "",
        *markdown_table(header, rows),
        "",
        f"- The run's vote as seed: {vote['dice']:.3f} [{vote['ci_low']:.3f}, {vote['ci_high']:.3f}]; the best "
        f"centred disc, chosen on these same images and so an upper bound for the centre prior alone "
        f"({disc['seed']}): {disc['dice']:.3f} [{disc['ci_low']:.3f}, {disc['ci_high']:.3f}]. The diffusion "
        f"maps add {-disc['minus_vote']:+.3f} [95 % CI of the paired difference {-disc['minus_vote_ci_high']:+.3f}, "
        f"{-disc['minus_vote_ci_low']:+.3f}] over the best disc.",
    ]

