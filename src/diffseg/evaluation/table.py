"""Table 1: every method side by side on the same test images, with confidence intervals.

Rows follow the paper's comparison, plus the training-free baselines a reviewer asks for first:
training-free (Otsu), and its fair control, Otsu's mask fused by the same DenseCRF (colour model,
kernels) as DiffSeg's vote, so that every post-processing step DiffSeg gets the baseline gets too;
supervised U-Net, DiffSeg best single step, DiffSeg mean-mask vote and
DiffSeg + DenseCRF; with a label-efficiency curve, the U-Nets trained on a few masks (`unet_<N>`,
diffseg.evaluation.label_efficiency) after the U-Net on all of them. The best single step is the step with the
highest mean Dice on the development split when there is one (diffseg.data.splits); without one, *on the
test images themselves*, as in the paper: the choice has then seen the answers, so that row is
optimistic, and the table says so.

Input is the per-image scores of the `metrics` rule: one row per (image `id`, `method`) with the
columns of `diffseg.evaluation.metrics.segmentation_scores`; per-step methods are named `step_060`, ….
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from diffseg.evaluation.columns import require_columns
from diffseg.evaluation.groups import group_labels
from diffseg.evaluation.label_efficiency import budget_of
from diffseg.evaluation.statistics import bootstrap_ci, holm, paired_wilcoxon, spearman

METRICS = ("dice", "iou", "precision", "recall", "specificity", "accuracy", "thresholded_jaccard")
SHOWN = ("dice", "iou", "precision", "recall", "thresholded_jaccard")  # the Markdown table's columns
REFERENCE = "diffseg_crf"
# The rows that need neither training nor labels; "beats the training-free baseline" means beats the
# best of them.
TRAINING_FREE = ("otsu", "otsu_crf")
# The students (diffseg.evaluation.student, config `student`): the U-Net trained on a teacher's masks
# of unscored images; each follows its teacher.
LABELS = {
    "otsu": "Training-free (Otsu)",
    "otsu_crf": "Training-free (Otsu) + DenseCRF",
    # Not training-free: a U-Net trained on the fair control's masks (its pseudo-labels), no ground truth.
    "otsu_crf_student": "Otsu + DenseCRF student",
    "unet": "Supervised U-Net",
    "best_step": "DiffSeg best single step",
    "diffseg_mean": "DiffSeg mean-mask vote",
    "diffseg_crf": "DiffSeg + DenseCRF",
    "diffseg_student": "DiffSeg student",
}


def step_methods(per_image: pd.DataFrame) -> list[str]:
    """The per-step methods (`step_060`, …) present in the scores, in step order."""
    steps = [method for method in per_image["method"].unique() if method.startswith("step_")]
    return sorted(steps, key=lambda method: int(method[5:]))


def summarise(values, n_resamples: int, seed: int, groups=None) -> dict[str, float]:
    """mean, sd (n − 1) and the 95 % percentile bootstrap CI of the mean of one metric; the bootstrap
    draws whole `groups` (one label per value, e.g. the lesion of each image) when given."""
    values = np.asarray(values, dtype=np.float64)
    low, high = bootstrap_ci(values, n_resamples=n_resamples, seed=seed, groups=groups)
    return {
        "mean": values.mean() if len(values) else np.nan,
        "sd": values.std(ddof=1) if len(values) > 1 else np.nan,
        "ci_low": low,
        "ci_high": high,
    }


def column_summary(table: pd.DataFrame, columns, n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per column of `table` (`measure`): n, mean, sd and bootstrap CI of its values present."""
    require_columns(table, columns)
    rows = []
    for column in columns:
        values = table[column].dropna().to_numpy(dtype=float)
        rows.append({"measure": column, "n": len(values), **summarise(values, n_resamples, seed)})
    return pd.DataFrame(rows, columns=["measure", "n", "mean", "sd", "ci_low", "ci_high"])


def per_step_summary(per_image: pd.DataFrame, n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Dice per noise-addition step: mean, sd and bootstrap CI (the Dice-per-step curve)."""
    require_columns(per_image, ("id", "method", "dice"))
    rows = []
    for method in step_methods(per_image):
        dice = per_image.loc[per_image["method"] == method, "dice"].to_numpy(dtype=float)
        rows.append({"step": int(method[5:]), "n": len(dice), **summarise(dice, n_resamples, seed)})
    return pd.DataFrame(rows, columns=["step", "n", "mean", "sd", "ci_low", "ci_high"])


def best_step(per_image: pd.DataFrame) -> str | None:
    """The per-step method with the highest mean Dice (chosen on the scored images: optimistic)."""
    steps = step_methods(per_image)
    if not steps:
        return None
    means = per_image[per_image["method"].isin(steps)].groupby("method")["dice"].mean()
    return max(steps, key=lambda m: means[m])  # the first (earliest) step wins a tie


def compared_methods(per_image: pd.DataFrame, dev_scores: pd.DataFrame | None = None) -> list[tuple[str, str, str]]:
    """(row key, method in the scores, label) of every row of Table 1 present in the scores, in the
    order of `LABELS`, the label-efficiency U-Nets after the U-Net on all masks; the best-step row
    names its chosen step, chosen on `dev_scores` (the development split's scores) when given."""
    chosen_step = best_step(per_image if dev_scores is None else dev_scores)
    present = set(per_image["method"])
    budgets = sorted((method for method in present if budget_of(method) is not None), key=budget_of)
    rows = []
    for key, label in LABELS.items():
        method = chosen_step if key == "best_step" else key
        if method in present:
            rows.append((key, method, label + (_step_note(method, dev_scores) if key == "best_step" else "")))
        if key == "unet":
            rows += [(method, method, f"{label}, {budget_of(method)} masks") for method in budgets]
    return rows


def _step_note(method: str, dev_scores: pd.DataFrame | None) -> str:
    if dev_scores is None:
        return f" (t = {int(method[5:])})"
    return f" (t = {int(method[5:])}, chosen on {dev_scores['id'].nunique()} development images)"


def table1(
    per_image: pd.DataFrame,
    n_resamples: int = 2000,
    seed: int = 0,
    dev_scores: pd.DataFrame | None = None,
    group: str | None = None,
) -> pd.DataFrame:
    """One row per compared method present in the scores, in the order of `compared_methods`; the
    best single step is chosen on `dev_scores` when given (column `step_chosen_on`: `development`),
    else on `per_image` itself (`test`). With `group` (a column of `per_image`, such as `lesion_id`:
    several images of one lesion), the CIs resample whole groups and the paired test pairs the
    groups' mean Dice (column `groups`: how many the row's images form; `grouped_by`: the column).

    Columns: `key`, `method` (label), `n`; for each metric `<metric>_mean`, `_sd`, `_ci_low`,
    `_ci_high`; and the paired comparison with DiffSeg + DenseCRF on the images both scored:
    `dice_minus_crf` (mean per-image Dice difference, row − CRF), `wilcoxon_dice_vs_crf` and
    `p_dice_vs_crf` (two-sided Wilcoxon signed-rank statistic and p-value), and `p_holm_dice_vs_crf`,
    that p-value Holm-adjusted over the table's comparisons. The CRF row has NaN there.
    """
    require_columns(per_image, ("id", "method", *METRICS))
    dice = per_image.pivot(index="id", columns="method", values="dice")  # (images, methods)
    image_groups = group_labels(per_image, group, dice.index)
    rows = []
    for key, method, label in compared_methods(per_image, dev_scores):
        scores = per_image[per_image["method"] == method]
        groups = group_labels(scores, group)
        row = {"key": key, "method": label, "n": len(scores)}
        if group:
            row |= {"groups": len(set(groups)), "grouped_by": group}
        for metric in METRICS:
            stats = summarise(scores[metric].to_numpy(dtype=float), n_resamples, seed, groups)
            row |= {f"{metric}_{name}": value for name, value in stats.items()}
        row |= paired_with_reference(dice, method, image_groups)
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table["p_holm_dice_vs_crf"] = holm(table["p_dice_vs_crf"])
        table["step_chosen_on"] = np.where(table["key"] == "best_step", "test" if dev_scores is None else "development", "")
    return table


def paired_with_reference(dice: pd.DataFrame, method: str, groups=None) -> dict[str, float]:
    """Mean Dice difference and Wilcoxon test of `method` against DiffSeg + CRF, image by image, or
    group by group given `groups` (one label per row of `dice`)."""
    if method == REFERENCE or REFERENCE not in dice.columns:
        return {"dice_minus_crf": np.nan, "wilcoxon_dice_vs_crf": np.nan, "p_dice_vs_crf": np.nan}
    ours, reference = dice[method].to_numpy(dtype=float), dice[REFERENCE].to_numpy(dtype=float)
    statistic, p = paired_wilcoxon(ours, reference, groups)
    return {"dice_minus_crf": float(np.nanmean(ours - reference)), "wilcoxon_dice_vs_crf": statistic,
            "p_dice_vs_crf": p}


def uncertainty_correlation(per_image: pd.DataFrame, ged_table: pd.DataFrame) -> tuple[float, float, int]:
    """Spearman's (rho, p, n) between per-image GED diversity and 1 − Dice of DiffSeg + DenseCRF.

    A positive rho means the images whose per-step outputs disagree most are the ones the fused mask
    gets wrong, i.e. the diversity is a usable warning on unlabelled images.
    """
    fused = per_image.loc[per_image["method"] == REFERENCE, ["id", "dice"]]
    joined = fused.merge(ged_table[["id", "diversity"]], on="id")
    return spearman(joined["diversity"].to_numpy(dtype=float), 1.0 - joined["dice"].to_numpy(dtype=float))


def own_uncertainty_correlation(per_image: pd.DataFrame, method: str) -> tuple[float, float, int]:
    """Spearman's (rho, p, n) between `method`'s own per-image `uncertainty` column (a student's) and
    its 1 − Dice; NaNs when the scores have no such column."""
    rows = per_image[per_image["method"] == method]
    if "uncertainty" not in rows:
        return np.nan, np.nan, 0
    return spearman(rows["uncertainty"].to_numpy(dtype=float), 1.0 - rows["dice"].to_numpy(dtype=float))


def student_correlation_notes(per_image: pd.DataFrame) -> list[str]:
    """One note per student row present: how its own uncertainty tracks its error."""
    notes = []
    for key in ("diffseg_student", "otsu_crf_student"):
        if key in set(per_image["method"]):
            rho, p, n = own_uncertainty_correlation(per_image, key)
            notes.append(f"Spearman correlation of the uncertainty of {LABELS[key]} (its mask uncertainty over four "
                         f"flips) with its 1 − Dice: rho = {rho:.3f}, p = {p_value_text(p)}, n = {n}.")
    return notes


def _cell(row: pd.Series, metric: str) -> str:
    return (f"{row[f'{metric}_mean']:.3f} ± {row[f'{metric}_sd']:.3f} "
            f"[{row[f'{metric}_ci_low']:.3f}, {row[f'{metric}_ci_high']:.3f}]")


def p_value_text(p: float) -> str:
    return "–" if np.isnan(p) else f"{p:.2g}"


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """The lines of a Markdown table."""
    return ["| " + " | ".join(cells) + " |" for cells in (header, ["---"] * len(header), *rows)]


def step_choice_note(table: pd.DataFrame) -> str:
    """Where the table's best single step was chosen, for its notes."""
    chosen_on = table.loc[table["key"] == "best_step", "step_chosen_on"] if "step_chosen_on" in table else []
    if len(chosen_on) and chosen_on.iloc[0] == "development":
        return "The best single step is chosen on the development split, none of whose images is scored here."
    return "The best single step is chosen on these same test images, so its row is optimistic."


def grouping_note(table: pd.DataFrame) -> list[str]:
    """How the table's statistics treat the images of one group (`table1`'s `group`), if any."""
    if "grouped_by" not in table or not len(table) or pd.isna(table["grouped_by"].iloc[0]):
        return []
    largest = table.loc[table["n"].idxmax()]
    return [f"The {largest['n']} images form {largest['groups']} `{largest['grouped_by']}` groups, whose images are "
            "not independent: the CIs resample whole groups (cluster bootstrap) and the Wilcoxon tests pair "
            "each group's mean Dice."]


def table1_markdown(
    table: pd.DataFrame, correlation: tuple[float, float, int] | None = None, student_notes: list[str] | None = None
) -> str:
    """Table 1 as Markdown: mean ± sd [95 % CI] per metric and the paired test against DiffSeg + CRF."""
    header = ["Method", "n", "Dice", "IoU", "Precision", "Recall", "Thresholded Jaccard",
              "ΔDice vs DiffSeg + CRF", "p (Wilcoxon)", "p (Holm)"]
    rows = []
    for _, row in table.iterrows():
        difference = "–" if np.isnan(row["dice_minus_crf"]) else f"{row['dice_minus_crf']:+.3f}"
        cells = [row["method"], str(row["n"]), *(_cell(row, m) for m in SHOWN)]
        rows.append(cells + [difference, p_value_text(row["p_dice_vs_crf"]),
                             p_value_text(row.get("p_holm_dice_vs_crf", np.nan))])
    lines = markdown_table(header, rows)
    notes = [
        "",
        "Mean ± sd [95 % percentile bootstrap CI of the mean] over the test images, each scored at its",
        "original resolution against its original mask. ΔDice: mean per-image Dice of the row minus that",
        "of DiffSeg + DenseCRF; p: two-sided Wilcoxon signed-rank test of the paired per-image Dice;",
        "p (Holm): the same p-values Holm-adjusted over the table's comparisons with DiffSeg + DenseCRF.",
        step_choice_note(table),
        *grouping_note(table),
    ]
    if correlation is not None:
        rho, p, n = correlation
        notes.append(
            f"Spearman correlation of per-image GED diversity with 1 − Dice of DiffSeg + DenseCRF: "
            f"rho = {rho:.3f}, p = {p_value_text(p)}, n = {n}."
        )
    if student_notes:
        notes += student_notes
    return "\n".join(lines + notes) + "\n"


def student_summary(per_image: pd.DataFrame, n_resamples: int = 2000, seed: int = 0, group: str | None = None) -> pd.DataFrame:
    """One row per student present (`key`, `method`, `n`): its Dice (mean, sd, bootstrap CI; whole
    `group`s resampled when given) and the Spearman correlation of its own uncertainty with its
    1 − Dice (`rho`, `p_rho`): the table of the development split, whose Table 1 cannot hold them."""
    rows = []
    for key in ("diffseg_student", "otsu_crf_student"):
        scores = per_image[per_image["method"] == key]
        if not len(scores):
            continue
        stats = summarise(scores["dice"].to_numpy(dtype=float), n_resamples, seed, group_labels(scores, group))
        rho, p, _ = own_uncertainty_correlation(per_image, key)
        rows.append({"key": key, "method": LABELS[key], "n": len(scores),
                     **{f"dice_{name}": value for name, value in stats.items()}, "rho": rho, "p_rho": p})
    return pd.DataFrame(rows, columns=["key", "method", "n", "dice_mean", "dice_sd", "dice_ci_low", "dice_ci_high",
                                       "rho", "p_rho"])


def student_summary_markdown(summary: pd.DataFrame) -> str:
    """The students' summary as Markdown: Dice with CI and how each one's uncertainty tracks its error."""
    rows = [[row["method"], str(row["n"]),
             f"{row['dice_mean']:.3f} [{row['dice_ci_low']:.3f}, {row['dice_ci_high']:.3f}]",
             "–" if np.isnan(row["rho"]) else f"{row['rho']:.3f}", p_value_text(row["p_rho"])]
            for _, row in summary.iterrows()]
    lines = markdown_table(["Student", "n", "Dice [95 % CI]", "Spearman rho (uncertainty, 1 − Dice)", "p"], rows)
    return "\n".join(lines) + "\n"
