"""Scoring segmentations at each image's original resolution, as ISIC 2018 does.

Every method's output is a map at model resolution (a probability, a vote share or a 0/1 mask).
It is upsampled bilinearly to the original size and labelled at 0.5, the same way for every
method, so no method gains from a better upsampling than another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from diffseg.images import resize_probability
from diffseg.metrics import segmentation_scores


def label_at_original_size(soft_map: np.ndarray, original_hw: tuple[int, int]) -> np.ndarray:
    """A model-resolution map `(h, w)` upsampled to `original_hw` and labelled lesion where ≥ 0.5."""
    soft_map = np.asarray(soft_map, dtype=np.float32)
    if soft_map.shape == tuple(original_hw):
        return soft_map >= 0.5
    return resize_probability(soft_map, tuple(original_hw)) >= 0.5


def score_shard(
    ids: list[str],
    ground_truth: Callable[[int], np.ndarray],
    methods: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """One row per (image, method): every metric of `segmentation_scores` at original resolution.

    `ground_truth(j)` returns the original-resolution mask of the j-th image of the shard; each
    value of `methods` is an `(n, h, w)` stack of maps in the same image order.
    """
    rows = []
    for j, image_id in enumerate(ids):
        truth = np.asarray(ground_truth(j), dtype=bool)
        for method, maps in methods.items():
            scores = segmentation_scores(label_at_original_size(maps[j], truth.shape), truth)
            rows.append({"id": image_id, "method": method, **scores})
    return pd.DataFrame(rows)
