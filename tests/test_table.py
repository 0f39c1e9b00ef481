"""Table 1 from a small hand-made frame of per-image scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from diffseg.evaluation.statistics import holm
from diffseg.evaluation.table import (
    METRICS,
    best_step,
    column_summary,
    compared_methods,
    per_step_summary,
    step_methods,
    summarise,
    table1,
    table1_markdown,
    uncertainty_correlation,
)

# Per-image Dice of 6 images; the other metrics are derived so each column differs.
DICE = {
    "step_060": [0.50, 0.60, 0.55, 0.40, 0.70, 0.45],
    "step_100": [0.70, 0.72, 0.68, 0.66, 0.74, 0.70],  # the best step
    "step_150": [0.65, 0.70, 0.60, 0.62, 0.69, 0.66],
    "diffseg_mean": [0.72, 0.74, 0.70, 0.70, 0.76, 0.71],
    "diffseg_crf": [0.80, 0.82, 0.78, 0.75, 0.85, 0.79],
    "unet": [0.90, 0.91, 0.88, 0.86, 0.93, 0.89],
    "otsu": [0.60, 0.85, 0.30, 0.70, 0.75, 0.65],
}


def per_image_frame(dice: dict[str, list[float]] = DICE) -> pd.DataFrame:
    rows = []
    for method, values in dice.items():
        for i, value in enumerate(values):
            row = {"id": f"img{i}", "method": method}
            row |= {metric: value for metric in METRICS}
            row |= {"iou": value / (2 - value), "precision": min(1.0, value + 0.05)}
            rows.append(row)
    return pd.DataFrame(rows)


def test_steps_are_found_in_step_order_and_the_best_by_mean_dice():
    frame = per_image_frame({"step_60": [0.1], "step_150": [0.3], "step_1000": [0.2], "unet": [0.9]})
    assert step_methods(frame) == ["step_60", "step_150", "step_1000"]
    assert best_step(frame) == "step_150"
    assert best_step(per_image_frame()) == "step_100"
    assert best_step(per_image_frame({"unet": [0.9]})) is None


def test_compared_methods_are_table1s_rows_present_with_the_chosen_step():
    assert compared_methods(per_image_frame()) == [
        ("otsu", "otsu", "Training-free (Otsu)"), ("unet", "unet", "Supervised U-Net"),
        ("best_step", "step_100", "DiffSeg best single step (t = 100)"),
        ("diffseg_mean", "diffseg_mean", "DiffSeg mean-mask vote"), ("diffseg_crf", "diffseg_crf", "DiffSeg + DenseCRF"),
    ]  # fmt: skip
    assert compared_methods(per_image_frame({"diffseg_crf": [0.5], "unet": [0.9]})) == [
        ("unet", "unet", "Supervised U-Net"), ("diffseg_crf", "diffseg_crf", "DiffSeg + DenseCRF")]


def test_table1_rows_in_order_with_means_sds_and_cis():
    table = table1(per_image_frame(), n_resamples=500, seed=0)
    assert list(table["key"]) == ["otsu", "unet", "best_step", "diffseg_mean", "diffseg_crf"]
    assert table.loc[2, "method"] == "DiffSeg best single step (t = 100)"
    assert (table["n"] == 6).all()
    crf = table.set_index("key").loc["diffseg_crf"]
    assert crf["dice_mean"] == pytest.approx(np.mean(DICE["diffseg_crf"]))
    assert crf["dice_sd"] == pytest.approx(np.std(DICE["diffseg_crf"], ddof=1))
    iou = np.array(DICE["diffseg_crf"]) / (2 - np.array(DICE["diffseg_crf"]))
    assert crf["iou_mean"] == pytest.approx(iou.mean())
    for metric in METRICS:
        assert (table[f"{metric}_ci_low"] <= table[f"{metric}_mean"]).all()
        assert (table[f"{metric}_mean"] <= table[f"{metric}_ci_high"]).all()
    # The Otsu row's scores spread most, so its interval is the widest.
    widths = (table["dice_ci_high"] - table["dice_ci_low"]).to_numpy()
    assert widths.argmax() == 0


def test_paired_tests_against_the_fused_mask():
    table = table1(per_image_frame(), n_resamples=200, seed=0).set_index("key")
    # U-Net beats CRF on all 6 images (W = 0, exact p = 2/64); best step loses on all 6.
    assert table.loc["unet", "wilcoxon_dice_vs_crf"] == 0.0
    assert table.loc["unet", "p_dice_vs_crf"] == pytest.approx(2 / 64)
    assert table.loc["unet", "dice_minus_crf"] == pytest.approx(0.58 / 6)
    assert table.loc["best_step", "dice_minus_crf"] < 0
    assert table.loc["best_step", "p_dice_vs_crf"] == pytest.approx(2 / 64)
    # Otsu is better on one image and worse on five: not significant at 6 images.
    assert table.loc["otsu", "p_dice_vs_crf"] > 0.05
    assert np.isnan(table.loc["diffseg_crf", "p_dice_vs_crf"])
    # Holm over the table's comparisons with the CRF (Otsu, U-Net, best step, vote; the CRF row has none).
    compared = table["p_dice_vs_crf"].dropna()
    np.testing.assert_allclose(table.loc[compared.index, "p_holm_dice_vs_crf"], holm(compared))
    assert table.loc["unet", "p_holm_dice_vs_crf"] >= table.loc["unet", "p_dice_vs_crf"]
    assert np.isnan(table.loc["diffseg_crf", "p_holm_dice_vs_crf"])


def test_images_of_one_lesion_are_one_unit_of_the_cis_and_the_paired_tests():
    per_image = per_image_frame()
    # img0 and img1 are one lesion, as are img2 and img3: 6 images, 4 lesions.
    per_image["lesion_id"] = per_image["id"].map({"img0": "A", "img1": "A", "img2": "B", "img3": "B"})
    per_image.loc[per_image["id"] == "img5", "lesion_id"] = np.nan  # unlabelled: its own group
    table = table1(per_image, n_resamples=200, seed=0, group="lesion_id").set_index("key")
    assert (table["groups"] == 4).all() and (table["grouped_by"] == "lesion_id").all()
    # The U-Net beats the CRF on all 4 lesions: exact p = 2 / 2⁴, not 2 / 2⁶ as for 6 images.
    assert table.loc["unet", "p_dice_vs_crf"] == pytest.approx(2 / 16)
    assert table.loc["unet", "dice_mean"] == pytest.approx(np.mean(DICE["unet"]))  # means stay per image
    ungrouped = table1(per_image_frame(), n_resamples=200, seed=0).set_index("key")
    assert (table.loc["otsu", "dice_ci_low"], table.loc["otsu", "dice_ci_high"]) != \
        (ungrouped.loc["otsu", "dice_ci_low"], ungrouped.loc["otsu", "dice_ci_high"])
    assert "groups" not in ungrouped
    markdown = table1_markdown(table.reset_index())
    assert "The 6 images form 4 `lesion_id` groups" in markdown and "cluster bootstrap" in markdown
    assert "lesion_id" not in table1_markdown(ungrouped.reset_index())
    with pytest.raises(ValueError, match="lack column"):
        table1(per_image_frame(), n_resamples=10, seed=0, group="lesion_id")


def test_missing_methods_are_left_out_and_missing_images_unpaired():
    dice = {k: v for k, v in DICE.items() if k not in ("unet", "step_060", "step_100", "step_150")}
    frame = per_image_frame(dice)
    frame = frame[~((frame["method"] == "otsu") & (frame["id"] == "img0"))]
    table = table1(frame, n_resamples=200, seed=0).set_index("key")
    assert list(table.index) == ["otsu", "diffseg_mean", "diffseg_crf"]
    assert table.loc["otsu", "n"] == 5
    expected = np.mean(np.array(DICE["otsu"][1:]) - np.array(DICE["diffseg_crf"][1:]))
    assert table.loc["otsu", "dice_minus_crf"] == pytest.approx(expected)


def test_scores_without_a_metric_column_are_refused():
    with pytest.raises(ValueError, match="thresholded_jaccard"):
        table1(per_image_frame().drop(columns="thresholded_jaccard"))


def test_per_step_summary_is_the_dice_curve():
    summary = per_step_summary(per_image_frame(), n_resamples=200, seed=0)
    assert summary["step"].tolist() == [60, 100, 150]
    assert summary["mean"].tolist() == pytest.approx([np.mean(DICE[f"step_{t:03d}"]) for t in (60, 100, 150)])
    assert (summary["n"] == 6).all() and (summary["ci_low"] < summary["mean"]).all()


def test_uncertainty_correlation_ranks_diversity_against_the_fused_error():
    per_image = per_image_frame()
    # Diversity rises exactly as the fused Dice falls, except that img5 has no GED row.
    error = 1 - np.array(DICE["diffseg_crf"])
    ged = pd.DataFrame({"id": [f"img{i}" for i in range(5)], "diversity": error[:5] * 2})
    rho, p, n = uncertainty_correlation(per_image, ged)
    assert (rho, n) == (pytest.approx(1.0), 5)
    rho, _, _ = uncertainty_correlation(per_image, ged.assign(diversity=-ged["diversity"]))
    assert rho == pytest.approx(-1.0)


def test_markdown_shows_every_row_the_tests_and_the_correlation():
    table = table1(per_image_frame(), n_resamples=200, seed=0)
    text = table1_markdown(table, correlation=(0.41, 0.003, 6))
    lines = text.splitlines()
    assert lines[0].startswith("| Method | n | Dice |")
    assert len(lines[0].split("|")) == len(lines[1].split("|"))
    otsu_line = next(line for line in lines if line.startswith("| Training-free (Otsu)"))
    crf = np.mean(DICE["diffseg_crf"])
    assert f"{np.mean(DICE['otsu']):.3f} ± " in otsu_line
    assert f"{np.mean(DICE['otsu']) - crf:+.3f}" in otsu_line
    crf_line = next(line for line in lines if line.startswith("| DiffSeg + DenseCRF"))
    assert crf_line.endswith("| – | – |")
    assert "rho = 0.410, p = 0.003, n = 6" in text
    assert "optimistic" in text
    assert "rho" not in table1_markdown(table)


def test_column_summary_leaves_out_missing_values_of_each_column():
    table = pd.DataFrame({"ged": [0.2, np.nan, 0.4, 0.3], "diversity": [0.1, 0.5, 0.2, 0.3], "empty": np.nan})
    summary = column_summary(table, ["ged", "diversity", "empty"], n_resamples=200, seed=1).set_index("measure")
    assert summary.loc["ged", "n"] == 3 and summary.loc["empty", "n"] == 0
    expected = summarise([0.2, 0.4, 0.3], n_resamples=200, seed=1)
    assert summary.loc["ged", list(expected)].to_dict() == pytest.approx(expected)
    assert summary.loc["empty", ["mean", "sd", "ci_low", "ci_high"]].isna().all()
    with pytest.raises(ValueError, match="dice"):
        column_summary(table, ["dice"])


def test_the_best_step_is_chosen_on_the_development_split_when_given():
    dev = per_image_frame({"step_060": [0.9, 0.8, 0.85], "step_100": [0.1, 0.2, 0.3], "diffseg_crf": [0.5] * 3})
    table = table1(per_image_frame(), n_resamples=200, seed=0, dev_scores=dev).set_index("key")
    assert table.loc["best_step", "method"] == "DiffSeg best single step (t = 60, chosen on 3 development images)"
    assert table.loc["best_step", "dice_mean"] == pytest.approx(np.mean(DICE["step_060"]))
    assert table.loc["best_step", "step_chosen_on"] == "development"
    markdown = table1_markdown(table.reset_index())
    assert "chosen on the development split" in markdown and "optimistic" not in markdown
    on_test = table1(per_image_frame(), n_resamples=200, seed=0)
    assert on_test.set_index("key").loc["best_step", "step_chosen_on"] == "test"
    assert "so its row is optimistic" in table1_markdown(on_test)


def test_label_efficiency_unets_follow_the_full_unet_by_budget_and_join_the_holm_family():
    dice = DICE | {"unet_100": [0.85, 0.86, 0.84, 0.80, 0.88, 0.83], "unet_10": [0.6, 0.65, 0.5, 0.55, 0.7, 0.6]}
    table = table1(per_image_frame(dice), n_resamples=200, seed=0)
    assert list(table["key"]) == ["otsu", "unet", "unet_10", "unet_100", "best_step", "diffseg_mean", "diffseg_crf"]
    assert table.loc[2, "method"] == "Supervised U-Net, 10 masks"
    assert table["p_holm_dice_vs_crf"].tolist()[:-1] == pytest.approx(holm(table["p_dice_vs_crf"])[:-1].tolist())
