"""Scoring segmentations at each image's original resolution, as ISIC 2018 does.

Every method's output is a map at model resolution (a probability, a vote share or a 0/1 mask).
It is upsampled bilinearly to the original size and labelled at 0.5, the same way for every
method, so no method gains from a better upsampling than another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from diffseg.data.images import label_at_original_size
from diffseg.evaluation.metrics import segmentation_scores


def score_shard(
    ids: list[str],
    ground_truth: Callable[[int], np.ndarray],
    methods: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """One row per (image, method): every metric of `segmentation_scores` at original resolution,
    and the share of the frame the true lesion (`truth_fraction`) and the method's mask
    (`pred_fraction`) cover there, which tell lesion sizes and empty or frame-covering masks apart.

    `ground_truth(j)` returns the original-resolution mask of the j-th image of the shard; each
    value of `methods` is an `(n, h, w)` stack of maps in the same image order.
    """
    rows = []
    for j, image_id in enumerate(ids):
        truth = np.asarray(ground_truth(j), dtype=bool)
        for method, maps in methods.items():
            pred = label_at_original_size(maps[j], truth.shape)
            rows.append({"id": image_id, "method": method, "truth_fraction": float(truth.mean()),
                         "pred_fraction": float(pred.mean()), **segmentation_scores(pred, truth)})
    return pd.DataFrame(rows)
