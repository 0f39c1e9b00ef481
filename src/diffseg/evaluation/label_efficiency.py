"""The label-efficiency curve: what a supervised U-Net reaches with a few masks, and where DiffSeg,
trained without any, lies on that curve ("worth about N labelled images").

One U-Net is trained per budget of `unet.label_budgets` on that many training masks (method
`unet_<N>` in the scores), besides the U-Net on every training mask (`unet`). The subsets are
nested, so the curve's steps differ only in the masks added: the images are ordered once by a hash
of the seed and their id, and a budget of N takes the first N.

DiffSeg + DenseCRF, the DiffSeg student and, as their controls, the training-free rows and the
student of the fair control are each placed on the curve of mean Dice against log N, piecewise
linear between its points: a row's worth is the smallest N at which the curve reaches its Dice. Below the first point it is
worth fewer masks than the smallest budget, above the last more than all the training masks; the
estimate is then censored (reported as "< N" or "> N", held as -inf and inf). Its 95 % interval is a
paired bootstrap over the test images: each resample recomputes every point of the curve and the
row's Dice on the same images and places the row again, so the interval holds the uncertainty of
the curve as well as the row's. The same resamples give each row's gap to the U-Net trained on every
training mask, with its interval.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from diffseg.data.cohort import split_hash
from diffseg.evaluation.groups import group_labels
from diffseg.evaluation.statistics import resampled_means

FULL_UNET = "unet"
BUDGET_PREFIX = "unet_"
REFERENCE = "diffseg_crf"
# The rows placed on the curve, in the order they are shown: the mask-free rows of Table 1 (DiffSeg's and
# their controls'); those a run lacks (no student) are left out.
PLACED = ("diffseg_crf", "diffseg_student", "otsu", "otsu_crf", "otsu_crf_student")
# Those of them that fuse with (or learn from a teacher that fused with) the settings chosen on the
# development split's masks: no network trained on those masks, but they were used.
CHOSEN_ON_DEVELOPMENT = ("diffseg_crf", "diffseg_student", "otsu_crf", "otsu_crf_student")
CURVE_COLUMNS = ["masks", "method", "n", "dice_mean", "ci_low", "ci_high"]


def budget_method(budget: int) -> str:
    """The scores' method name of the U-Net trained on `budget` masks."""
    return f"{BUDGET_PREFIX}{int(budget)}"


def budget_of(method: str) -> int | None:
    """The budget of a method named by `budget_method`; None for any other method."""
    suffix = method[len(BUDGET_PREFIX):] if method.startswith(BUDGET_PREFIX) else ""
    return int(suffix) if suffix.isdigit() else None


def budget_subset(ids, budget: int, seed: int) -> np.ndarray:
    """Positions in `ids` (the training images with a mask) of the `budget` images a U-Net with that
    budget trains on: the first `budget` in the order of `split_hash(seed, "budget:" + id)`, so a
    smaller budget's images are among a larger one's and adding images moves an image only by its rank.
    """
    ids = [str(i) for i in ids]
    if not 1 <= budget <= len(ids):
        raise ValueError(f"unet.label_budgets: a budget of {budget} masks, but the training split has {len(ids)}")
    order = sorted(range(len(ids)), key=lambda i: split_hash(seed, f"budget:{ids[i]}"))
    return np.sort(np.asarray(order[:budget], dtype=np.int64))


def curve_methods(methods, full_masks: int) -> dict[str, int]:
    """The methods of `methods` that form the curve, with their number of training masks, by masks."""
    points = {method: budget_of(method) for method in methods if budget_of(method) is not None}
    if FULL_UNET in set(methods):
        points[FULL_UNET] = int(full_masks)
    return dict(sorted(points.items(), key=lambda item: item[1]))


def worth_in_masks(masks, dice, target: float) -> float:
    """The smallest number of masks at which the curve (Dice against log masks, piecewise linear
    between points in increasing `masks`) reaches `target`; -inf when its first point is already
    above `target`, inf when no point reaches it."""
    log_masks = np.log(np.asarray(masks, dtype=np.float64))
    dice = np.asarray(dice, dtype=np.float64)
    if dice[0] >= target:
        return -math.inf
    for i in range(len(dice) - 1):
        if dice[i + 1] >= target:
            fraction = (target - dice[i]) / (dice[i + 1] - dice[i])
            return float(np.exp(log_masks[i] + fraction * (log_masks[i + 1] - log_masks[i])))
    return math.inf


@dataclass(frozen=True)
class Worth:
    """A row's place on the curve: the estimate and its 95 % bootstrap interval, in masks (±inf:
    censored at the curve's ends), with the Dice it was placed by, and its paired gap (row − U-Net
    on every training mask) with its interval (NaN without that U-Net)."""

    estimate: float
    ci_low: float
    ci_high: float
    dice: float
    first: int  # the curve's smallest and largest number of masks, for the censored texts
    last: int
    method: str = REFERENCE
    gap: float = math.nan
    gap_low: float = math.nan
    gap_high: float = math.nan

    def text(self) -> str:
        """`≈ 37 labelled images [95 % CI 12, 150]`, with `< 10` or `> 1700` for censored values."""
        estimate = self._masks(self.estimate)
        approximately = "≈ " if math.isfinite(self.estimate) else ""
        return f"{approximately}{estimate} labelled images [95 % CI {self._masks(self.ci_low)}, {self._masks(self.ci_high)}]"

    def _masks(self, value: float) -> str:
        if value == -math.inf:
            return f"< {self.first}"
        if value == math.inf:
            return f"> {self.last}"
        return f"{value:.0f}"


def worth_table(worths: dict[str, Worth]) -> pd.DataFrame:
    """`worths` (by method) as a table of one row each, for a CSV between rules; ±inf stay `inf`."""
    columns = [field.name for field in fields(Worth)]
    return pd.DataFrame([asdict(worth) for worth in worths.values()], columns=columns)


def read_worths(path: str | os.PathLike) -> dict[str, Worth]:
    """The worths written by `worth_table`, by method, in their order (empty when none was placed)."""
    rows = pd.read_csv(path).to_dict("records")
    return {row["method"]: Worth(**{**row, "first": int(row["first"]), "last": int(row["last"])}) for row in rows}


def label_efficiency(
    per_image: pd.DataFrame,
    full_masks: int,
    n_resamples: int,
    seed: int,
    placed: tuple[str, ...] = PLACED,
    group: str | None = None,
) -> tuple[pd.DataFrame, dict[str, Worth]]:
    """The curve (one row per point: `masks`, `method`, `n`, `dice_mean`, `ci_low`, `ci_high`, the CI
    the percentile bootstrap of the mean) and the worth on it of each method of `placed` in the
    scores, by method; an empty curve and no worth without two points or without an image scored by
    them all. Only images scored by every point and every placed row are used, so the points and the
    placements are paired. With `group` (a column such as `lesion_id`), the bootstrap draws whole
    groups of images.
    """
    points = curve_methods(per_image["method"].unique(), full_masks)
    placed = [method for method in placed if method in set(per_image["method"])]
    methods = [*points, *placed]
    dice = per_image[per_image["method"].isin(methods)].pivot(index="id", columns="method", values="dice")
    paired = dice.reindex(columns=methods).dropna()
    values = paired.to_numpy(dtype=np.float64)  # (images, points + placed rows)
    if len(points) < 2 or not placed or not len(values):
        return pd.DataFrame(columns=CURVE_COLUMNS), {}
    resampled = resampled_means(values, n_resamples, seed, group_labels(per_image, group, paired.index))
    low, high = np.quantile(resampled, [0.025, 0.975], axis=0)
    means = values.mean(axis=0)
    n_points = len(points)
    curve = pd.DataFrame({"masks": list(points.values()), "method": list(points), "n": len(values),
                          "dice_mean": means[:n_points], "ci_low": low[:n_points], "ci_high": high[:n_points]},
                         columns=CURVE_COLUMNS)
    masks = curve["masks"].to_numpy()
    full = list(points).index(FULL_UNET) if FULL_UNET in points else None
    worths = {}
    for column, method in enumerate(placed, start=n_points):
        placements = np.array([worth_in_masks(masks, sample[:n_points], sample[column]) for sample in resampled])
        # Percentiles that pick a resample's own value, never interpolate, so ±inf stay censored values.
        ci_low, ci_high = np.quantile(placements, [0.025, 0.975], method="inverted_cdf")
        gap = gap_low = gap_high = math.nan
        if full is not None:
            gaps = resampled[:, column] - resampled[:, full]
            gap = float(means[column] - means[full])
            gap_low, gap_high = (float(value) for value in np.quantile(gaps, [0.025, 0.975]))
        worths[method] = Worth(worth_in_masks(masks, means[:n_points], means[column]), float(ci_low), float(ci_high),
                               float(means[column]), int(masks[0]), int(masks[-1]), method, gap, gap_low, gap_high)
    return curve, worths
