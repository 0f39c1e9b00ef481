"""The claim a reader takes from a benchmark, checked on one set of test images: does DiffSeg beat the
best training-free row, and does it hold on lesions over half the frame, where it is known to fail?

For each DiffSeg row (the fused mask, the student) the control is the training-free row with the
higher mean Dice on those images (Otsu alone, or Otsu fused by the same DenseCRF), and for the student
also its own control (the same student taught by the fair control's masks). The difference, its
interval and its Holm-adjusted p are those of the fair-controls family of the same images
(diffseg.evaluation.controls), so the verdict and that table agree: a row beats its control when the
difference's interval lies above 0 at Holm p < 0.05 and the signed-rank test points its way
(rank-biserial r > 0), and is worse when all three say the other way. On
the images whose true lesion covers at least half the frame, the same two rows are compared again
(paired difference with its bootstrap interval), with both rows' Recall and Precision there, which say
whether the DiffSeg masks miss part of the lesion or spill beyond it.
"""

from __future__ import annotations

import pandas as pd

from diffseg.evaluation.breakdown import SIZE_BINS, size_bin
from diffseg.evaluation.columns import require_columns
from diffseg.evaluation.controls import control_comparisons
from diffseg.evaluation.groups import group_labels
from diffseg.evaluation.statistics import bootstrap_ci
from diffseg.evaluation.table import LABELS, TRAINING_FREE, markdown_table, p_value_text

SIGNIFICANCE = 0.05
LARGE_BIN = SIZE_BINS[-1]
# (DiffSeg row, its control): None stands for the best training-free row of the images.
CLAIMS = (("diffseg_crf", None), ("diffseg_student", None), ("diffseg_student", "otsu_crf_student"))
COLUMNS = ("images", "ours", "control", "n", "difference", "ci_low", "ci_high", "p_holm", "rank_biserial", "beats",
           "outcome", "large_n",
           "large_difference", "large_ci_low", "large_ci_high", "ours_recall", "control_recall",
           "ours_precision", "control_precision")


BEATS, WORSE, NOT_SHOWN = "yes", "worse", "no"


def outcome(comparison) -> str:
    """`yes` when the paired difference's interval lies above 0 and the signed-rank test, at Holm
    p < 0.05, points the same way (a rank-biserial correlation above 0: a few large gains can lift the
    mean while most images lose), `worse` when all three say the other way, `no` otherwise."""
    shown = comparison["p_holm"] < SIGNIFICANCE
    direction = comparison["rank_biserial"]  # nan (no nonzero difference) does not block a shown interval
    if shown and comparison["ci_low"] > 0 and not direction <= 0:
        return BEATS
    if shown and comparison["ci_high"] < 0 and not direction >= 0:
        return WORSE
    return NOT_SHOWN


def best_training_free(per_image: pd.DataFrame) -> str | None:
    """The training-free row with the higher mean Dice on these images (None without one)."""
    means = per_image[per_image["method"].isin(TRAINING_FREE)].groupby("method")["dice"].mean()
    return str(means.idxmax()) if len(means) else None


def verdict(
    images: str, per_image: pd.DataFrame, group: str | None = None, n_resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """One row per claim of `CLAIMS` whose two rows are in the scores (columns `COLUMNS`), on the set of
    images named `images`: the comparison of the whole set (from `control_comparisons`) and that of its
    images in the largest size bin, resampling whole `group`s when given."""
    require_columns(per_image, ("id", "method", "dice", "truth_fraction", "recall", "precision"))
    comparisons = control_comparisons(per_image, group, n_resamples, seed).set_index(["ours", "control"])
    best = best_training_free(per_image)
    large = per_image[size_bin(per_image["truth_fraction"]) == LARGE_BIN]
    rows = []
    for ours, control in CLAIMS:
        control = control or best
        if (ours, control) not in comparisons.index:
            continue
        whole = comparisons.loc[(ours, control)]
        said = outcome(whole)
        rows.append({"images": images, "ours": ours, "control": control, "n": int(whole["n"]),
                     "difference": whole["difference"], "ci_low": whole["ci_low"], "ci_high": whole["ci_high"],
                     "p_holm": whole["p_holm"], "rank_biserial": whole["rank_biserial"],
                     "beats": said == BEATS, "outcome": said,
                     **_large_bin(large, ours, control, group, n_resamples, seed)})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _large_bin(large: pd.DataFrame, ours: str, control: str, group: str | None, n_resamples: int, seed: int) -> dict:
    """The two rows on the images of the largest size bin that both scored."""
    scores = {method: large[large["method"] == method].set_index("id") for method in (ours, control)}
    ids = scores[ours].index.intersection(scores[control].index)
    if not len(ids):
        return {"large_n": 0}
    a, b = scores[ours].loc[ids], scores[control].loc[ids]
    difference = a["dice"].to_numpy(float) - b["dice"].to_numpy(float)
    groups = group_labels(scores[ours].reset_index(), group, ids)
    low, high = bootstrap_ci(difference, n_resamples, seed, groups=groups)
    return {"large_n": len(ids), "large_difference": difference.mean(), "large_ci_low": low, "large_ci_high": high,
            "ours_recall": a["recall"].mean(), "control_recall": b["recall"].mean(),
            "ours_precision": a["precision"].mean(), "control_precision": b["precision"].mean()}


def verdict_markdown(table: pd.DataFrame) -> str:
    """The verdicts of one or more sets of images as one Markdown table, with how to read it."""
    if not len(table):
        return ""
    rows = [[row["images"], LABELS[row["ours"]], LABELS[row["control"]], str(row["n"]),
             f"{row['difference']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]", p_value_text(row["p_holm"]),
             _signed(row["rank_biserial"]), row["outcome"], *_large_cells(row)]
            for _, row in table.iterrows()]
    header = ["images", "DiffSeg row", "control", "n", "DiffSeg row − control [95 % CI]", "p (Holm)",
              "rank-biserial r", "beats it", f"{LARGE_BIN}: n", f"{LARGE_BIN}: DiffSeg row − control [95 % CI]",
              f"{LARGE_BIN}: Recall (row / control)", f"{LARGE_BIN}: Precision (row / control)"]
    notes = ["", "Each DiffSeg row against the training-free row with the higher mean Dice on those images (the "
             "student also against its own control): the paired difference in Dice, its percentile bootstrap CI "
             "and Holm-adjusted p, as in the fair-controls table of the same images, and the direction of the "
             "signed-rank test (matched-pairs rank-biserial r: positive when the DiffSeg row is the higher on "
             "the larger share of ranked differences). It beats the control when the difference's interval lies "
             f"above 0 at Holm p < {SIGNIFICANCE} with r > 0 (`worse`: interval below 0 at that p with r < 0; "
             "`no`: neither). Each set of images is its own Holm family, and the intervals are not adjusted "
             "(Table 1's p (Holm) of the same pair can differ: its family is every row against DiffSeg + "
             "DenseCRF). The fair control fuses with the DenseCRF settings chosen for DiffSeg on the development "
             "split, not tuned for Otsu's mask. The last columns compare the same two rows "
             f"on the images whose true lesion covers {LARGE_BIN} of the frame: a negative difference with a "
             "lower Recall means the DiffSeg masks miss part of the large lesions; with a lower Precision, that "
             "they spill beyond them."]
    return "\n".join([*markdown_table(header, rows), *notes, *shortfalls(table)]) + "\n"


def _signed(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:+.2f}"


def shortfalls(table: pd.DataFrame) -> list[str]:
    """Where a claim does not hold, by how much and what the numbers say of why: each set of images on
    which no DiffSeg row beats the best training-free row (the closest row: shown worse, or its interval
    and test, or how wide an interval its number of images gives), and each DiffSeg row whose mean Dice
    falls below that row's on the lesions over half the frame (by how much, and whether its masks miss
    part of them, spill beyond them, or neither explains it)."""
    lines = []
    against_best = table[table["control"].isin(TRAINING_FREE)].dropna(subset=["difference"])
    for images, claims in against_best.groupby("images", sort=False):
        if (claims["outcome"] == BEATS).any():
            continue
        best = claims.loc[claims["difference"].idxmax()]
        lines.append(
            f"- {images}: no DiffSeg row beats {LABELS[best['control']]}. The closest, {LABELS[best['ours']]}, "
            f"is {best['difference']:+.3f} [{best['ci_low']:+.3f}, {best['ci_high']:+.3f}] Dice from it: "
            f"{_why_not_shown(best)}")
    for _, row in against_best.iterrows():
        if not row["large_n"] or row["large_difference"] >= 0:
            continue
        shown = "" if row["large_ci_high"] < 0 else ", an interval that includes 0"
        lines.append(
            f"- {row['images']}: on the {int(row['large_n'])} lesions covering {LARGE_BIN} of the frame, "
            f"{LABELS[row['ours']]} is {-row['large_difference']:.3f} Dice below {LABELS[row['control']]} "
            f"([{row['large_ci_low']:+.3f}, {row['large_ci_high']:+.3f}]{shown}): {_large_loss(row)}.")
    if not lines:
        return []
    return ["", "Where a claim does not hold:", "", *lines]


def _why_not_shown(best: pd.Series) -> str:
    """Why the closest DiffSeg row of a set does not beat the bar, from its comparison's numbers."""
    p = f"Holm p = {p_value_text(best['p_holm'])}"
    direction = best["rank_biserial"]
    if best["outcome"] == WORSE:
        return f"it is worse ({p}, rank-biserial r = {direction:+.2f})."
    if best["ci_low"] > 0 and best["p_holm"] < SIGNIFICANCE and not direction > 0:
        return (f"its interval lies above 0, but the signed-rank test does not point its way (rank-biserial "
                f"r = {direction:+.2f}, {p}): most images lose, a few gain much.")
    if best["ci_low"] > 0:
        return f"its interval lies above 0, but the signed-rank test does not confirm it ({p}): the gain is in fewer images than its mean suggests."
    width = (best["ci_high"] - best["ci_low"]) / 2
    return (f"{p}; on {int(best['n'])} images the interval reaches ±{width:.3f}, so a gain smaller than that "
            "cannot be shown there.")


def _large_loss(row: pd.Series) -> str:
    """Whether the DiffSeg masks of the large lesions miss part of them, spill beyond, or neither."""
    recall, precision = (row["ours_recall"], row["control_recall"]), (row["ours_precision"], row["control_precision"])
    if recall[0] < recall[1]:
        return "its masks miss part of those lesions (Recall {:.3f} against {:.3f})".format(*recall)
    if precision[0] < precision[1]:
        return "its masks spill beyond those lesions (Precision {:.3f} against {:.3f})".format(*precision)
    return ("neither its Recall ({:.3f} against {:.3f}) nor its Precision ({:.3f} against {:.3f}) is the lower: "
            "its losses are on a few images").format(*recall, *precision)


def _large_cells(row: pd.Series) -> list[str]:
    if not row["large_n"]:
        return ["0", "–", "–", "–"]
    return [str(int(row["large_n"])),
            f"{row['large_difference']:+.3f} [{row['large_ci_low']:+.3f}, {row['large_ci_high']:+.3f}]",
            f"{row['ours_recall']:.3f} / {row['control_recall']:.3f}",
            f"{row['ours_precision']:.3f} / {row['control_precision']:.3f}"]


def verdicts(sets: dict[str, tuple[pd.DataFrame, str | None]], n_resamples: int, seed: int) -> pd.DataFrame:
    """`verdict` of each named set of images (name → (scores, group column)), in order."""
    tables = [verdict(name, scores, group, n_resamples, seed) for name, (scores, group) in sets.items()]
    tables = [table for table in tables if len(table)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(COLUMNS))
