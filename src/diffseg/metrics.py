"""Per-image segmentation scores and the statistics that summarise them over a cohort.

Scores follow the ISIC 2018 challenge (`isic-challenge-scoring`, checked in tests/test_metrics.py),
including its conventions for masks without lesion pixels:

- Dice, IoU (Jaccard) and the thresholded Jaccard of two empty masks are 1 (perfect agreement on
  "no lesion"); an empty mask against a non-empty one scores 0.
- Recall (sensitivity) is 1 when the truth has no lesion pixel (nothing to miss); specificity is 1
  when the truth is all lesion (nothing to mark healthy).
- Precision of an empty prediction is 1 when the truth is empty too and 0 otherwise. Here we depart
  from ISIC's positive predictive value (1 for any empty prediction): a method that finds nothing on
  a lesion image has failed, and a free 1 would flatter its mean precision. ISIC's segmentation score
  does not report precision, so the cross-check is unaffected.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

# ISIC 2018's threshold: an image whose IoU falls below it scores 0 ("a failed segmentation").
JACCARD_THRESHOLD = 0.65


def _ratio(numerator: int, denominator: int, when_empty: float) -> float:
    return numerator / denominator if denominator else when_empty


def segmentation_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice, IoU, precision, recall, specificity, accuracy and thresholded Jaccard of two `(H, W)` masks."""
    pred = np.asarray(pred, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    tp = int(np.count_nonzero(pred & truth))
    fp = int(np.count_nonzero(pred)) - tp
    fn = int(np.count_nonzero(truth)) - tp
    tn = pred.size - tp - fp - fn
    iou = _ratio(tp, tp + fp + fn, 1.0)
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, 1.0),
        "iou": iou,
        "precision": _ratio(tp, tp + fp, 1.0 if fn == 0 else 0.0),
        "recall": _ratio(tp, tp + fn, 1.0),
        "specificity": _ratio(tn, tn + fp, 1.0),
        "accuracy": _ratio(tp + tn, pred.size, 1.0),
        "thresholded_jaccard": iou if iou >= JACCARD_THRESHOLD else 0.0,
    }


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    return values[~np.isnan(values)]


def bootstrap_ci(values, n_resamples: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of `values` (NaNs ignored).

    All `n_resamples` resamples are drawn at once as an `(n_resamples, n)` index matrix. One value
    gives a zero-width interval; no value gives `(nan, nan)`.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    values = _finite(values)
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_resamples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def paired_wilcoxon(a, b) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired samples `a`, `b`: (statistic, p).

    Pairs with a NaN are dropped. Identical samples (every difference zero) give (0, 1): no evidence
    of a difference, where scipy would refuse. No pair at all gives (nan, nan).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in shape: {a.shape} vs {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    difference = a[keep] - b[keep]
    if len(difference) == 0:
        return float("nan"), float("nan")
    if not np.any(difference):
        return 0.0, 1.0
    result = stats.wilcoxon(difference, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values, in their original order.

    The k-th smallest of m p-values is multiplied by m − k + 1, then the running maximum keeps the
    adjusted values in the order of the raw ones; each is capped at 1. NaN (a test not made) stays
    NaN and does not count in m. Controls the family-wise error rate without assuming independence.
    """
    p_values = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p_values.shape, np.nan)
    made = np.flatnonzero(~np.isnan(p_values))
    order = made[np.argsort(p_values[made], kind="stable")]
    scaled = p_values[order] * (len(order) - np.arange(len(order)))
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def spearman(x, y) -> tuple[float, float, int]:
    """Spearman's rank correlation over the pairs where neither value is NaN: (rho, p, n).

    Fewer than three pairs, or a constant sample, give rho = p = nan (no rank correlation exists).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"samples differ in shape: {x.shape} vs {y.shape}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    n = int(keep.sum())
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan"), n
    result = stats.spearmanr(x, y)
    return float(result.statistic), float(result.pvalue), n
