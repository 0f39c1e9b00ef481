"""Generalized Energy Distance between segmentation samples (docs/method.md §4, Kohl et al. 2018).

    D²_GED(P_gt, P_out) = 2 E[d(S, Y)] − E[d(S, S')] − E[d(Y, Y')],   d(x, y) = 1 − IoU(x, y)

The expectations are over independent draws from the two empirical distributions, as in Kohl et
al.'s Probabilistic U-Net: S and S' are drawn independently (with replacement) from the n outputs,
so each expectation is the mean over all n² ordered pairs, i = j included (those contribute d = 0).
This is the plug-in (V-statistic) estimate; it is ≥ 0 for any samples because 1 − IoU is a metric
of negative type, and a single annotation makes E[d(Y, Y')] = 0.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from diffseg.data.maps import read_maps
from diffseg.runtime.atomic import write_csv

# The per-image measures of `ged_shard`: GED against the annotation (NaN without one) and the two
# annotation-free diversities.
GED_MEASURES = ("ged", "diversity", "diversity_euclidean")
GED_COLUMNS = ("id", *GED_MEASURES)


def _flat(masks: np.ndarray) -> np.ndarray:
    """`(n, H, W)` masks as `(n, H·W)` float64 rows (exact counts up to 2⁵³ pixels)."""
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"expected a stack of masks (n, H, W), got shape {masks.shape}")
    return masks.reshape(len(masks), -1).astype(np.float64)


def pairwise_iou_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """d = 1 − IoU between every mask of `a` `(n, H, W)` and every mask of `b` `(m, H, W)`: `(n, m)`.

    Intersections are the matrix product A·Bᵀ of the flattened masks and unions |A| + |B| − A·Bᵀ,
    so all n·m pairs cost one product. Two empty masks agree perfectly: IoU(∅, ∅) = 1, distance 0;
    an empty mask against a non-empty one has distance 1.
    """
    flat_a, flat_b = _flat(a), _flat(b)
    if flat_a.shape[1] != flat_b.shape[1]:
        raise ValueError(f"masks differ in size: {np.shape(a)[1:]} vs {np.shape(b)[1:]}")
    intersection = flat_a @ flat_b.T  # (n, m)
    union = flat_a.sum(axis=1)[:, None] + flat_b.sum(axis=1)[None, :] - intersection
    iou = np.divide(intersection, union, out=np.ones_like(intersection), where=union > 0)
    return 1.0 - iou


def ged_diversity(outputs: np.ndarray) -> float:
    """E[d(S, S')] over all n² ordered pairs of `outputs` `(n, H, W)`: the sample diversity.

    Needs no annotation, so it is the per-image uncertainty score for unlabelled cohorts.
    """
    return float(pairwise_iou_distance(outputs, outputs).mean())


def ged(outputs: np.ndarray, annotations: np.ndarray) -> float:
    """D²_GED between `outputs` `(n, H, W)` and `annotations` `(m, H, W)` (or one `(H, W)`)."""
    annotations = np.asarray(annotations, dtype=bool)
    if annotations.ndim == 2:
        annotations = annotations[None]
    cross = pairwise_iou_distance(outputs, annotations).mean()
    return float(2 * cross - ged_diversity(outputs) - ged_diversity(annotations))


def ged_euclidean_diversity(outputs: np.ndarray) -> float:
    """The authors' diversity score: sqrt((2 / N²) · Σ_{i<j} ‖S_i − S_j‖₂) on flattened 0/1 masks.

    Unlike `ged_diversity` it grows with the lesion's size in pixels (‖S_i − S_j‖₂ is the square root
    of the number of pixels where the two outputs differ), so it ranks images of one resolution only.
    The authors' code reads 0/255 uint8 masks, but its uint8 arithmetic wraps (255² ≡ 1 mod 256),
    so there too each differing pixel adds 1 and the value equals this one on 0/1 masks.
    """
    flat = _flat(outputs)
    sizes = flat.sum(axis=1)
    differing = sizes[:, None] + sizes[None, :] - 2 * (flat @ flat.T)  # |S_i Δ S_j|, (N, N)
    upper = np.triu_indices(len(flat), k=1)
    total = np.sqrt(np.maximum(differing[upper], 0.0)).sum()
    return float(np.sqrt(2 * total / len(flat) ** 2))


def ged_shard(store, masks_path: str | os.PathLike, table_path: str | os.PathLike) -> pd.DataFrame:
    """GED and diversities of the per-step masks of every image of a masks shard, one row each.

    The annotation of the image at store position p is `store.mask(p)` where `store.has_mask[p]`.
    Writes the table (columns `GED_COLUMNS`) to `table_path` and returns it.
    """
    shard = read_maps(masks_path, "masks")
    rows = []
    for position, image_id, outputs in zip(
        shard["index"], shard["ids"], shard["masks"].astype(bool), strict=True
    ):
        row = {
            "id": image_id,
            "diversity": ged_diversity(outputs),
            "diversity_euclidean": ged_euclidean_diversity(outputs),
        }
        if store.has_mask[position]:
            row["ged"] = ged(outputs, store.mask(position)[None].astype(bool))
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(GED_COLUMNS))
    write_csv(table, table_path)
    return table
