"""The cross-validated Table 1, the per-fold table and the ablation table (docs/validation.md).

Every image is a test image in exactly one fold, so the folds' per-image scores pooled are one
score per image of the cohort; means, bootstrap CIs and paired Wilcoxon tests are taken over those
images, as for a single split (`diffseg.evaluation.table`). Inputs are the `scores.csv` files the `table1`
rule writes in each fold's results root.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml

from diffseg.evaluation.breakdown import (
    ALL_LESION_SHARE,
    FRAME_COVERING_RULE,
    coverage,
    coverage_cell,
    percent,
)
from diffseg.evaluation.statistics import holm, paired_wilcoxon
from diffseg.evaluation.table import REFERENCE, best_step, markdown_table, p_value_text, summarise
from diffseg.reports.documents import (
    closing_sections,
    configuration_section,
    document_header,
    markdown_sections,
)

FUSED_ROWS = {"best_step": "best single step", "diffseg_mean": "mean-mask vote", "diffseg_crf": "DiffSeg + CRF"}


def pooled_scores(fold_scores: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """The per-image scores of every fold in one table with a `fold` column; an image scored in two
    folds means the folds overlap, which the protocol forbids."""
    pooled = pd.concat([scores.assign(fold=fold) for fold, scores in fold_scores.items()], ignore_index=True)
    repeated = pooled.groupby(["id", "method"])["fold"].nunique()
    if (repeated > 1).any():
        ids = sorted({image for image, _ in repeated[repeated > 1].index})
        raise ValueError(f"images scored in more than one fold: {', '.join(ids[:5])}")
    return pooled


def per_fold_dice(pooled: pd.DataFrame) -> pd.DataFrame:
    """Mean Dice of every method in every fold (rows: folds; columns: methods), plus the test-set size."""
    table = pooled.pivot_table(index="fold", columns="method", values="dice", aggfunc="mean")
    shown = [key for key in ("otsu", "otsu_crf", "unet", "diffseg_mean", "diffseg_crf") if key in table.columns]
    table = table[shown]
    table.insert(0, "n", pooled[pooled["method"] == REFERENCE].groupby("fold")["id"].nunique())
    return table.reset_index()


def fused_summary(pooled: pd.DataFrame, n_resamples: int, seed: int) -> dict[str, float]:
    """Dice mean and CI of the best step, the vote and DiffSeg + CRF of one variant's pooled scores,
    the coverage of their masks (`<key>_n`, `_empty`, `_all_lesion`, `_pred_fraction_mean`,
    `_covers_frame`; `diffseg.evaluation.breakdown.coverage`) and `covers_frame`: whether any of them covers the frame."""
    row: dict[str, float] = {}
    chosen = best_step(pooled)
    row["best_step"] = int(chosen[5:]) if chosen else np.nan
    for key in FUSED_ROWS:
        scores = pooled[pooled["method"] == (chosen if key == "best_step" else key)]
        stats = summarise(scores["dice"].to_numpy(dtype=float), n_resamples, seed)
        row |= {f"{key}_dice_{name}": stats[name] for name in ("mean", "ci_low", "ci_high")}
        row |= {f"{key}_{name}": value for name, value in coverage(scores["pred_fraction"]).items()}
    row["covers_frame"] = any(row[f"{key}_covers_frame"] for key in FUSED_ROWS)
    return row


def ablation_table(
    variants: dict[str, pd.DataFrame], overrides: dict[str, dict], n_resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """One row per variant (`default` first): its override, the Dice of its best step, vote and
    DiffSeg + CRF with CIs, and paired Wilcoxon tests of its DiffSeg + CRF against the default's and
    against the default run's training-free Otsu baseline (ΔDice = variant − reference over the
    images both scored). `p_holm_crf_vs_<reference>`: every p-value of the table Holm-adjusted as one
    family (two tests per ablation), since a reader scans all of them for the ones below 0.05."""
    default = variants["default"]
    references = {
        "default": default[default["method"] == REFERENCE].set_index("id")["dice"],
        "otsu": default[default["method"] == "otsu"].set_index("id")["dice"],
    }
    rows = []
    for name, pooled in variants.items():
        row = {"variant": name, "override": describe_override(overrides.get(name, {}))}
        row |= fused_summary(pooled, n_resamples, seed)
        dice = pooled[pooled["method"] == REFERENCE].set_index("id")["dice"]
        for reference_name, reference_dice in references.items():
            same = name == "default" and reference_name == "default"
            row |= _paired_difference(dice, reference_dice, reference_name, skip=same)
        rows.append(row)
    table = pd.DataFrame(rows)
    tests = [f"p_crf_vs_{reference}" for reference in references]
    adjusted = holm(table[tests].to_numpy(dtype=float).ravel()).reshape(len(table), len(tests))
    for column, values in zip(tests, adjusted.T, strict=True):
        table[column.replace("p_", "p_holm_", 1)] = values
    return table


def _paired_difference(dice: pd.Series, reference: pd.Series, name: str, skip: bool = False) -> dict:
    """Mean per-image Dice difference to `reference` and its Wilcoxon p over the images both scored."""
    shared = dice.index.intersection(reference.index)
    if skip or len(shared) == 0:
        return {f"crf_minus_{name}": np.nan, f"p_crf_vs_{name}": np.nan}
    ours, theirs = dice[shared].to_numpy(dtype=float), reference[shared].to_numpy(dtype=float)
    return {f"crf_minus_{name}": float(np.mean(ours - theirs)), f"p_crf_vs_{name}": paired_wilcoxon(ours, theirs)[1]}


def describe_override(override: dict) -> str:
    """An override as one line of YAML flow style (`threshold: {method: fixed}`); `–` for none."""
    if not override:
        return "–"
    flow = yaml.safe_dump(override, default_flow_style=True, sort_keys=False, width=1000).strip()
    return flow[1:-1]  # without the outer braces


def _dice_cell(row: pd.Series, key: str) -> str:
    mean = row[f"{key}_dice_mean"]
    if np.isnan(mean):
        return "–"
    return f"{mean:.3f} [{row[f'{key}_dice_ci_low']:.3f}, {row[f'{key}_dice_ci_high']:.3f}]"


def ablation_markdown(table: pd.DataFrame) -> str:
    """The ablation table as Markdown, with its reading notes."""
    header = ["Ablation", "Override", "Best step (t)", "Mean-mask vote", "DiffSeg + CRF", "DiffSeg + CRF masks",
              "ΔDice CRF vs default", "p", "p (Holm)", "ΔDice CRF vs Otsu", "p", "p (Holm)"]
    rows = []
    for _, row in table.iterrows():
        step = "" if np.isnan(row["best_step"]) else f" (t = {int(row['best_step'])})"
        tests = []
        for reference in ("default", "otsu"):
            difference = row[f"crf_minus_{reference}"]
            tests += ["–" if np.isnan(difference) else f"{difference:+.3f}",
                      p_value_text(row[f"p_crf_vs_{reference}"]), p_value_text(row[f"p_holm_crf_vs_{reference}"])]
        rows.append([row["variant"], f"`{row['override']}`" if row["override"] != "–" else "–",
                     _dice_cell(row, "best_step") + step, _dice_cell(row, "diffseg_mean"),
                     _dice_cell(row, "diffseg_crf"), _masks_cell(row), *tests])
    lines = markdown_table(header, rows)
    notes = [
        "",
        "Dice: mean [95 % percentile bootstrap CI] over every image of the cohort, each scored once, in",
        "the fold that held it out. ΔDice and p: DiffSeg + CRF of the ablation minus that of the default,",
        "and minus the default run's training-free Otsu baseline, paired per image (two-sided Wilcoxon",
        "signed-rank); p (Holm): every p-value of the table Holm-adjusted as one family. The best step",
        "is chosen on the scored images. Rows chosen by looking at this table",
        "are chosen on the images they are scored on: their lead over the default is optimistic.",
        "DiffSeg + CRF masks: their mean share of the frame and how many are empty or all lesion (cover",
        f"≥ {percent(ALL_LESION_SHARE)} of it); **covers the frame** marks a row whose best-step, vote or CRF masks",
        f"{FRAME_COVERING_RULE}: its Dice is the lesions' share, not a segmentation.",
    ]
    return "\n".join(lines + notes) + "\n"


def _masks_cell(row: pd.Series) -> str:
    """The CRF masks' coverage, led by a warning naming the fused rows whose masks cover the frame."""
    cell = coverage_cell(row, "diffseg_crf")
    if not row["covers_frame"]:
        return cell
    names = ", ".join(name for key, name in FUSED_ROWS.items() if row[f"{key}_covers_frame"])
    return f"**covers the frame** ({names}); {cell}"


def per_fold_markdown(per_fold: pd.DataFrame) -> str:
    labels = {"otsu": "Otsu", "otsu_crf": "Otsu + CRF", "unet": "U-Net", "diffseg_mean": "DiffSeg vote", "diffseg_crf": "DiffSeg + CRF"}
    columns = [c for c in per_fold.columns if c in labels]
    header = ["Fold", "Test images", *(labels[c] for c in columns)]
    rows = [[str(int(row["fold"])), str(int(row["n"])), *(f"{row[c]:.3f}" for c in columns)]
            for _, row in per_fold.iterrows()]
    return "\n".join(markdown_table(header, rows)) + "\n"


def validation_document(
    table1_md: str, per_fold: pd.DataFrame, provenance: dict, ablation_md: str | None = None,
    stages_md: str | None = None, sections: dict[str, str] | None = None,
) -> str:
    """docs/validation.md: the protocol, how it was run, the cross-validated Table 1, `sections`
    (heading → Markdown, e.g. `diffseg.evaluation.breakdown.breakdown_sections`), the mean Dice per fold, (from
    `snakemake ablate`) the ablation table, and the code that computed each stage."""
    run = provenance
    parts = [
        *document_header("Cross-validated validation", run,
                         {"Folds": f"{run['folds']}, stratified by lesion-area quantile (seed {run['seed']})"}),
        "## Protocol",
        "",
        "Images are ordered by the lesion's share of their mask and cut into blocks of one image per",
        "fold, each block handing its images to the folds in a seeded order (`diffseg.data.folds`): every fold",
        "spans all lesion sizes. Each fold trains the DDPM (image-level labels only) and the supervised",
        "U-Net (with masks) on the other folds and scores its own images at their original resolution.",
        "Masks serve only the U-Net, the stratification and the scoring.",
        "",
        "## Table 1, cross-validated",
        "",
        table1_md.rstrip(),
        "",
        *markdown_sections(sections),
        "## Mean Dice per fold",
        "",
        per_fold_markdown(per_fold).rstrip(),
        "",
    ]
    if ablation_md is not None:
        parts += ["## Ablations", "", "Each row is one override of the configuration below, run on the same",
                  "folds; stages an override does not change are shared with the default.", "",
                  ablation_md.rstrip(), ""]
    parts += closing_sections(stages_md, run) if stages_md is not None else configuration_section(run)
    return "\n".join(parts)
