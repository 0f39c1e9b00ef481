"""The statistics that summarise per-image scores over a cohort, and compare two methods on it.

- `resampled_means` / `bootstrap_ci`: percentile bootstrap of a mean, resampling whole groups
  (a lesion photographed twice counts once) when groups are given;
- `paired_wilcoxon`: the signed-rank test of paired per-image scores, on group means when grouped;
- `holm`: Holm's step-down adjustment of a family of p-values;
- `spearman`: rank correlation, with the number of pairs it used.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def resampled_means(values, n_resamples: int, seed: int, groups=None) -> np.ndarray:
    """Means of `n_resamples` bootstrap resamples of the rows of `values` (`(n,)` or `(n, k)`, no NaN):
    `(n_resamples,)` or `(n_resamples, k)`.

    Rows are drawn with replacement, all resamples at once as an `(n_resamples, n)` index matrix.
    Given `groups` (one label per row, such as a lesion photographed several times), whole groups are
    drawn instead (the cluster bootstrap) and each resample's mean is over the rows of the groups
    drawn: images of one lesion are not independent, and drawing them one by one would narrow the
    interval as if they were.
    """
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    if groups is None:
        return values[rng.integers(0, len(values), size=(n_resamples, len(values)))].mean(axis=1)
    groups = np.asarray(groups)
    if groups.shape != values.shape[:1]:
        raise ValueError(f"{groups.shape[0]} group labels for {values.shape[0]} values")
    labels, group_of_row = np.unique(groups, return_inverse=True)
    n_groups = len(labels)
    sums = np.zeros((n_groups, *values.shape[1:]))
    np.add.at(sums, group_of_row, values)
    sizes = np.bincount(group_of_row, minlength=n_groups).astype(np.float64)
    drawn = rng.integers(0, n_groups, size=(n_resamples, n_groups))
    totals = sizes[drawn].sum(axis=1)
    return sums[drawn].sum(axis=1) / (totals if values.ndim == 1 else totals[:, None])


def bootstrap_ci(
    values, n_resamples: int = 2000, seed: int = 0, level: float = 0.95, groups=None
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of `values` (NaNs ignored), resampling
    whole `groups` when given (`resampled_means`). One value gives a zero-width interval; no value
    gives `(nan, nan)`.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    values = np.asarray(values, dtype=np.float64).ravel()
    present = ~np.isnan(values)
    if not present.any():
        return float("nan"), float("nan")
    groups = None if groups is None else np.asarray(groups).ravel()[present]
    means = resampled_means(values[present], n_resamples, seed, groups)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def paired_wilcoxon(a, b, groups=None) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired samples `a`, `b`: (statistic, p).

    Pairs with a NaN are dropped. Given `groups` (one label per pair), the test pairs each group's
    mean difference, so that a lesion photographed four times counts once, as the signed-rank test's
    independent pairs require. Identical samples (every difference zero) give (0, 1): no evidence of
    a difference, where scipy would refuse. No pair at all gives (nan, nan).
    """
    difference = _paired_differences(a, b, groups)
    if len(difference) == 0:
        return float("nan"), float("nan")
    if not np.any(difference):
        return 0.0, 1.0
    result = stats.wilcoxon(difference, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def rank_biserial(a, b, groups=None) -> float:
    """The direction and size of the signed-rank test of `paired_wilcoxon` (same pairs, same groups):
    the matched-pairs rank-biserial correlation (W+ − W−) / (W+ + W−), in [−1, 1]; positive when `a`
    is the higher on the larger share of ranked differences. Zero differences are left out, as the
    test leaves them; nan without a nonzero one."""
    difference = _paired_differences(a, b, groups)
    difference = difference[difference != 0]
    if not len(difference):
        return float("nan")
    ranks = stats.rankdata(np.abs(difference))
    return float((ranks[difference > 0].sum() - ranks[difference < 0].sum()) / ranks.sum())


def _paired_differences(a, b, groups=None) -> np.ndarray:
    """`a − b` over the pairs without a NaN; given `groups`, one mean difference per group."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in shape: {a.shape} vs {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    difference = a[keep] - b[keep]
    if groups is not None and len(difference):
        _, group_of_pair = np.unique(np.asarray(groups)[keep], return_inverse=True)
        difference = np.bincount(group_of_pair, weights=difference) / np.bincount(group_of_pair)
    return difference


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
