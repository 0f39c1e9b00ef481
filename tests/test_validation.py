"""The cross-validated tables: pooling folds, Dice per fold, the ablation table and the document."""

import numpy as np
import pandas as pd
import pytest

from diffseg.evaluation.statistics import holm
from diffseg.evaluation.table import METRICS
from diffseg.reports.validation import (
    ablation_markdown,
    ablation_table,
    describe_override,
    per_fold_dice,
    pooled_scores,
    validation_document,
)


def fold_scores(ids, dice_by_method, crf_share=0.2):
    """Every lesion covers a tenth of the frame and every mask a fifth, but the CRF's `crf_share`."""
    rows = [{"id": i, "method": method, "truth_fraction": 0.1,
             "pred_fraction": crf_share if method == "diffseg_crf" else 0.2, **{metric: dice[k] for metric in METRICS}}
            for method, dice in dice_by_method.items() for k, i in enumerate(ids)]
    return pd.DataFrame(rows)


def two_folds(crf_shift=0.0, crf_share=0.2):
    rng = np.random.default_rng(0)
    folds = {}
    for fold, ids in ((1, [f"a{i}" for i in range(12)]), (2, [f"b{i}" for i in range(12)])):
        crf = rng.uniform(0.4, 0.8, len(ids))
        folds[fold] = fold_scores(ids, {"otsu": crf + 0.1, "unet": crf + 0.2, "step_060": crf - 0.1,
                                        "step_100": crf - 0.05, "diffseg_mean": crf - 0.02,
                                        "diffseg_crf": crf + crf_shift}, crf_share)
    return folds


def test_pooled_scores_keep_every_image_once_with_its_fold():
    pooled = pooled_scores(two_folds())
    assert len(pooled) == 24 * 6 and set(pooled["fold"]) == {1, 2}
    per_fold = per_fold_dice(pooled)
    assert per_fold["n"].tolist() == [12, 12]
    assert (per_fold["unet"] - per_fold["diffseg_crf"]).to_numpy() == pytest.approx([0.2, 0.2])


def test_an_image_in_two_folds_is_refused():
    folds = two_folds()
    folds[2] = folds[1].copy()
    with pytest.raises(ValueError, match="more than one fold: a0"):
        pooled_scores(folds)


def test_ablation_table_compares_each_variant_with_the_default_image_by_image():
    variants = {"default": pooled_scores(two_folds()), "better": pooled_scores(two_folds(crf_shift=0.05))}
    table = ablation_table(variants, {"better": {"threshold": {"method": "fixed"}}}, n_resamples=200)
    default, better = table.iloc[0], table.iloc[1]
    assert np.isnan(default["crf_minus_default"]) and default["override"] == "–"
    assert better["crf_minus_default"] == pytest.approx(0.05)
    assert better["p_crf_vs_default"] < 1e-4  # 24 images, all better by 0.05
    # Both rows are compared with the default run's Otsu baseline (0.1 above the default's CRF here).
    assert default["crf_minus_otsu"] == pytest.approx(-0.1) and better["crf_minus_otsu"] == pytest.approx(-0.05)
    assert default["p_crf_vs_otsu"] < 1e-4
    assert better["best_step"] == 100
    # Holm over the table's three tests (the default is not compared with itself).
    raw = [better["p_crf_vs_default"], default["p_crf_vs_otsu"], better["p_crf_vs_otsu"]]
    held = [better["p_holm_crf_vs_default"], default["p_holm_crf_vs_otsu"], better["p_holm_crf_vs_otsu"]]
    np.testing.assert_allclose(held, holm(raw))
    assert np.isnan(default["p_holm_crf_vs_default"])
    assert better["diffseg_crf_dice_ci_low"] < better["diffseg_crf_dice_mean"] < better["diffseg_crf_dice_ci_high"]
    markdown = ablation_markdown(table)
    assert "| better | `threshold: {method: fixed}` |" in markdown and "+0.050" in markdown
    assert "ΔDice CRF vs Otsu" in markdown and "-0.050" in markdown


def test_ablation_rows_whose_masks_cover_the_frame_are_flagged():
    """An ablation whose CRF marks the whole frame scores the lesions' share, not a segmentation:
    the luma_signed row at level 0.2 scored 0.172 that way and nothing said so."""
    variants = {"default": pooled_scores(two_folds()), "all_lesion": pooled_scores(two_folds(crf_share=1.0))}
    table = ablation_table(variants, {"all_lesion": {"difference": {"reduce": "luma_signed"}}}, n_resamples=100)
    default, all_lesion = table.iloc[0], table.iloc[1]
    assert not default["covers_frame"] and all_lesion["covers_frame"]
    assert all_lesion["diffseg_crf_covers_frame"] and not all_lesion["diffseg_mean_covers_frame"]
    assert (all_lesion["diffseg_crf_n"], all_lesion["diffseg_crf_all_lesion"], all_lesion["diffseg_crf_empty"]) == (24, 24, 0)
    assert all_lesion["diffseg_crf_pred_fraction_mean"] == 1.0
    assert default["diffseg_crf_pred_fraction_mean"] == pytest.approx(0.2)
    lines = ablation_markdown(table).splitlines()
    assert lines[0].startswith("| Ablation | Override | Best step (t) | Mean-mask vote | DiffSeg + CRF | DiffSeg + CRF masks |")
    assert "| share 0.200; 0 empty, 0 of 24 all-lesion |" in lines[2]
    assert "| **covers the frame** (DiffSeg + CRF); share 1.000; 0 empty, 24 of 24 all-lesion |" in lines[3]


def test_describe_override():
    assert describe_override({}) == "–"
    assert describe_override({"extraction": {"steps": [10, 20]}}) == "extraction: {steps: [10, 20]}"


def test_document_records_how_it_was_made():
    provenance = {"target": "validate", "command": "snakemake validate --configfile c.yaml", "cohort": "imgs",
                  "commit": "abc123", "folds": 2, "seed": 0, "bootstrap": 200, "metrics_seed": 0,
                  "date": "2026-11-25", "config": "dataset: {name: x}\n"}
    per_fold = per_fold_dice(pooled_scores(two_folds()))
    sections = {"Dice by lesion size": "| Method | < 10 % (n = 2) |\n", "Empty masks": "| Method | n |\n"}
    document = validation_document("| Method |\n", per_fold, provenance, ablation_md="| Ablation |\n",
                                   sections=sections)
    for expected in ("`snakemake validate --configfile c.yaml`", "`abc123`", "stratified by lesion-area quantile",
                     "## Table 1, cross-validated", "| 1 | 12 |", "## Ablations", "dataset: {name: x}",
                     "## Dice by lesion size\n\n| Method | < 10 % (n = 2) |\n\n## Empty masks\n\n| Method | n |\n\n"):
        assert expected in document
    # The sections follow Table 1, before the Dice per fold.
    assert document.index("## Table 1, cross-validated") < document.index("## Dice by lesion size") \
        < document.index("## Mean Dice per fold")
    assert "## Ablations" not in validation_document("| Method |\n", per_fold, provenance)
