"""Per-image segmentation scores (their statistics over a cohort: `diffseg.evaluation.statistics`).

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


def ranking_auc(score: np.ndarray, truth: np.ndarray) -> float:
    """How well a map `score` `(H, W)` ranks lesion above skin pixels, whatever its threshold: the
    area under the ROC curve (Mann–Whitney U / (n_lesion · n_skin), ties counted half). 0.5 is
    chance; NaN when the truth is all lesion or all skin, where no ranking is asked for."""
    score = np.asarray(score, dtype=np.float64).ravel()
    truth = np.asarray(truth, dtype=bool).ravel()
    if score.shape != truth.shape:
        raise ValueError(f"map of {score.size} pixels against a mask of {truth.size}")
    lesion, skin = int(truth.sum()), int((~truth).sum())
    if not lesion or not skin:
        return float("nan")
    ranks = stats.rankdata(score)
    return float((ranks[truth].sum() - lesion * (lesion + 1) / 2) / (lesion * skin))
