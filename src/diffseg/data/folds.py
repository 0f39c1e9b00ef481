"""Cross-validation folds stratified by lesion area (the `validate` target, docs/validation.md).

Rule, seeded and reproducible on every machine: images are ordered by the lesion's share of their
mask (ties and images without a mask broken by `split_hash(seed, id)`), cut into consecutive blocks
of `n_folds` images — each block a narrow lesion-area quantile — and every block hands its images
one fold each, in an order fixed by `split_hash(seed, f"block {b}:{id}")`. Every fold therefore
spans the whole range of lesion sizes, from a few per cent of the image to nearly all of it.
Masks decide only the folds; the DDPM never sees them.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from diffseg.data.cohort import split_hash
from diffseg.data.images import read_mask
from diffseg.runtime.errors import BadInputError

log = logging.getLogger(__name__)


def lesion_area_fractions(mask_paths) -> np.ndarray:
    """The lesion's share of each mask; NaN where there is no mask or it cannot be read.

    An unreadable mask is not an error here: the store names it when it prepares the cohort.
    """
    fractions = np.full(len(mask_paths), np.nan)
    for position, path in enumerate(mask_paths):
        if not path:
            continue
        try:
            fractions[position] = read_mask(path).mean()
        except BadInputError as error:
            log.warning("fold stratification ignores %s", error)
    return fractions


def assign_folds(ids, area_fractions, n_folds: int, seed: int) -> np.ndarray:
    """The fold (0 … n_folds − 1) of each image, stratified by lesion area as the module says."""
    if n_folds < 2:
        raise ValueError(f"validation.folds must be at least 2, got {n_folds}")
    ids = [str(i) for i in ids]
    if len(ids) < n_folds:
        raise ValueError(f"{len(ids)} images cannot fill {n_folds} folds")
    # NaN areas (no mask) sort last, as their own stratum.
    areas = np.nan_to_num(np.asarray(area_fractions, dtype=np.float64), nan=np.inf)
    order = sorted(range(len(ids)), key=lambda i: (areas[i], split_hash(seed, ids[i])))
    folds = np.empty(len(ids), dtype=np.int64)
    for block_start in range(0, len(ids), n_folds):
        block = order[block_start:block_start + n_folds]
        block_index = block_start // n_folds
        shuffled = sorted(block, key=lambda i: split_hash(seed, f"block {block_index}:{ids[i]}"))
        # A last, short block starts at a fold that depends on the seed, so no fold is always short.
        first = int(split_hash(seed, f"offset {block_index}") * n_folds)
        for rank, position in enumerate(shuffled):
            folds[position] = (first + rank) % n_folds
    return folds


def fold_splits(cohort: pd.DataFrame, fold: int, n_folds: int, seed: int) -> pd.DataFrame:
    """A copy of `cohort` whose `split` is `test` for the images of `fold` and `train` for the others."""
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold {fold} is not among the {n_folds} folds")
    areas = lesion_area_fractions(cohort["mask_path"].fillna("").astype(str).tolist())
    folds = assign_folds(cohort["id"], areas, n_folds, seed)
    cohort = cohort.copy()
    cohort["fold"] = folds
    cohort["split"] = np.where(folds == fold, "test", "train")
    log.info("fold %d of %d: %d test, %d train images", fold, n_folds, (folds == fold).sum(), (folds != fold).sum())
    return cohort
