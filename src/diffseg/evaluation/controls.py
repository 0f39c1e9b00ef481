"""DiffSeg against its fair controls, image by image: the comparisons a claim "DiffSeg beats the
training-free baseline" rests on.

Table 1 tests every row against DiffSeg + DenseCRF. Here each DiffSeg row is tested against each
control that got the same post-processing: the fused mask against Otsu alone and against Otsu fused
by the same DenseCRF; the student against the same training-free rows and against its own control,
the same student trained on the fair control's masks; and the student against its teacher. One Holm
family holds every comparison of one table of images, so a claim picked from it pays for the others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from diffseg.evaluation.columns import require_columns
from diffseg.evaluation.groups import group_labels
from diffseg.evaluation.statistics import bootstrap_ci, holm, paired_wilcoxon, rank_biserial
from diffseg.evaluation.table import LABELS, markdown_table, p_value_text

# (DiffSeg row, control row) in the order they are shown.
COMPARISONS = (
    ("diffseg_crf", "otsu"),
    ("diffseg_crf", "otsu_crf"),
    ("diffseg_student", "otsu"),
    ("diffseg_student", "otsu_crf"),
    ("diffseg_student", "otsu_crf_student"),
    ("diffseg_student", "diffseg_crf"),
)
COLUMNS = ("ours", "control", "n", "ours_dice", "control_dice", "difference", "ci_low", "ci_high", "p", "rank_biserial",
           "p_holm")


def control_comparisons(
    per_image: pd.DataFrame, group: str | None = None, n_resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """One row per comparison of `COMPARISONS` whose two rows are in the scores (columns `COLUMNS`):
    both mean Dice over the images both scored, the mean paired difference with its bootstrap CI and
    the two-sided Wilcoxon signed-rank p and its direction (rank-biserial correlation), resampling and
    pairing whole `group`s when given (a lesion photographed twice counts once), and p Holm-adjusted
    over the rows."""
    require_columns(per_image, ("id", "method", "dice"))
    dice = per_image.pivot_table(index="id", columns="method", values="dice", aggfunc="first")
    groups = group_labels(per_image.drop_duplicates("id"), group, dice.index)
    rows = []
    for ours, control in COMPARISONS:
        if ours not in dice or control not in dice:
            continue
        both = dice[[ours, control]].notna().all(axis=1).to_numpy()
        a, b = dice[ours].to_numpy(float)[both], dice[control].to_numpy(float)[both]
        pair_groups = None if groups is None else np.asarray(groups)[both]
        low, high = bootstrap_ci(a - b, n_resamples, seed, groups=pair_groups)
        _, p = paired_wilcoxon(a, b, pair_groups)
        rows.append({"ours": ours, "control": control, "n": int(both.sum()), "ours_dice": a.mean(),
                     "control_dice": b.mean(), "difference": (a - b).mean(), "ci_low": low, "ci_high": high, "p": p,
                     "rank_biserial": rank_biserial(a, b, pair_groups)})
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["p_holm"] = holm(table["p"]) if len(table) else []
    return table


def comparisons_markdown(table: pd.DataFrame) -> str:
    """The comparisons as Markdown, with how to read them; empty without any."""
    if not len(table):
        return ""
    rows = [[LABELS[row["ours"]], LABELS[row["control"]], str(row["n"]), f"{row['ours_dice']:.3f}",
             f"{row['control_dice']:.3f}", f"{row['difference']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]",
             p_value_text(row["p"]), p_value_text(row["p_holm"])]
            for _, row in table.iterrows()]
    header = ["DiffSeg row", "control", "n", "Dice", "control's Dice", "DiffSeg row − control [95 % CI]", "p (Wilcoxon)",
              "p (Holm)"]
    notes = ["", "Paired per-image Dice of each DiffSeg row against a control on the images both scored: the "
             "mean difference with its percentile bootstrap CI, the two-sided Wilcoxon signed-rank test and its "
             "p-value Holm-adjusted over the rows of this table."]
    return "\n".join([*markdown_table(header, rows), *notes]) + "\n"
