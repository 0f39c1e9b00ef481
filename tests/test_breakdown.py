"""Dice by lesion size and the empty or frame-covering masks, from hand-made per-image scores."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from diffseg.evaluation.breakdown import (
    MASK_COVERAGE_HEADING,
    SIZE_BINS,
    SIZE_BINS_HEADING,
    breakdown_sections,
    coverage,
    coverage_cell,
    covers_frame,
    dice_by_size,
    dice_by_size_cells,
    dice_by_size_markdown,
    images_by_size,
    mask_coverage,
    mask_coverage_markdown,
    mean_by_size,
    size_bin,
    write_breakdown,
)

# Six images: two small lesions, one of 10–25 %, two of 25–50 %, one over half the frame.
TRUTH = [0.02, 0.08, 0.15, 0.30, 0.45, 0.70]
DICE = {
    "otsu": [0.40, 0.60, 0.70, 0.80, 0.90, 0.95],
    "unet": [0.70, 0.80, 0.85, 0.90, 0.92, 0.96],
    "step_060": [0.10, 0.20, 0.30, 0.40, 0.50, 0.60],
    "step_100": [0.20, 0.30, 0.40, 0.50, 0.60, 0.70],  # the best step
    "diffseg_mean": [0.30, 0.30, 0.50, 0.60, 0.60, 0.80],
    "diffseg_crf": [0.0, 0.20, 0.60, 0.70, 0.80, 0.90],
}
# Shares of the frame each method's masks cover: Otsu's first mask is empty, the CRF's masks are
# mostly all lesion, the vote's cover on average more than half the frame with none all lesion.
PRED = {
    "otsu": [0.0, 0.05, 0.20, 0.30, 0.40, 0.95],
    "unet": [0.02, 0.08, 0.15, 0.30, 0.45, 0.70],
    "step_060": [0.01, 0.05, 0.10, 0.20, 0.40, 0.60],
    "step_100": [0.02, 0.06, 0.12, 0.25, 0.40, 0.65],
    "diffseg_mean": [0.55, 0.60, 0.60, 0.60, 0.60, 0.70],
    "diffseg_crf": [0.0, 0.95, 0.92, 0.99, 0.90, 0.85],
}


def scores() -> pd.DataFrame:
    return pd.DataFrame([
        {"id": f"img{i}", "method": method, "dice": dice, "truth_fraction": TRUTH[i], "pred_fraction": PRED[method][i]}
        for method, values in DICE.items() for i, dice in enumerate(values)
    ])  # fmt: skip


def test_means_and_counts_by_size_bin_leave_out_an_empty_bin_and_skip_missing_values():
    values = [0.9, np.nan, 0.6, 0.4, 0.2]
    shares = [0.02, 0.05, 0.15, 0.30, 0.45]  # no lesion over half the frame
    assert mean_by_size(values, shares) == pytest.approx({SIZE_BINS[0]: 0.9, SIZE_BINS[1]: 0.6, SIZE_BINS[2]: 0.3})
    assert images_by_size(shares) == {SIZE_BINS[0]: 2, SIZE_BINS[1]: 1, SIZE_BINS[2]: 2, SIZE_BINS[3]: 0}


def test_size_bins_are_closed_below_so_an_edge_goes_to_the_larger_bin():
    shares = [0.0, 0.0999, 0.10, 0.2499, 0.25, 0.4999, 0.50, 1.0]
    assert size_bin(shares).tolist() == [SIZE_BINS[0], SIZE_BINS[0], SIZE_BINS[1], SIZE_BINS[1],
                                         SIZE_BINS[2], SIZE_BINS[2], SIZE_BINS[3], SIZE_BINS[3]]


def test_dice_by_size_counts_and_averages_each_bin_of_each_method():
    table = dice_by_size(scores(), n_resamples=200)
    assert table["key"].unique().tolist() == ["otsu", "unet", "best_step", "diffseg_mean", "diffseg_crf"]
    assert table["method"].iloc[8] == "DiffSeg best single step (t = 100)"
    crf = table[table["key"] == "diffseg_crf"].set_index("size_bin")
    assert crf["n"].tolist() == [2, 1, 2, 1]
    assert crf["mean"].tolist() == pytest.approx([0.10, 0.60, 0.75, 0.90])
    assert crf.loc["< 10 %", "sd"] == pytest.approx(np.std([0.0, 0.2], ddof=1))
    # A bin of one image: a zero-width interval at its Dice.
    assert crf.loc["10–25 %", ["ci_low", "ci_high"]].tolist() == pytest.approx([0.60, 0.60])
    assert crf.loc["< 10 %", "ci_low"] <= 0.10 <= crf.loc["< 10 %", "ci_high"]
    best = table[table["key"] == "best_step"].set_index("size_bin")
    assert best["mean"].tolist() == pytest.approx([0.25, 0.40, 0.55, 0.70])


def test_an_empty_bin_is_listed_with_no_images_and_a_dash():
    large_lesions = scores()[lambda s: s["truth_fraction"] >= 0.1]
    table = dice_by_size(large_lesions, n_resamples=100)
    small = table[table["size_bin"] == "< 10 %"]
    assert (small["n"] == 0).all() and small["mean"].isna().all()
    cells = dice_by_size_cells(table)
    assert cells.columns.tolist() == ["Method", "< 10 % (n = 0)", "10–25 % (n = 1)", "25–50 % (n = 2)",
                                      "≥ 50 % (n = 1)"]
    assert (cells["< 10 % (n = 0)"] == "–").all()


def test_size_markdown_names_each_bins_images_and_a_methods_own_count_where_it_scored_fewer():
    per_image = scores()
    per_image = per_image[~((per_image["method"] == "unet") & (per_image["id"] == "img0"))]
    markdown = dice_by_size_markdown(dice_by_size(per_image, n_resamples=100))
    assert "| Method | < 10 % (n = 2) | 10–25 % (n = 1) | 25–50 % (n = 2) | ≥ 50 % (n = 1) |" in markdown
    assert "| Supervised U-Net | 0.800 [0.800, 0.800] (n = 1) | 0.850 [0.850, 0.850] |" in markdown
    assert "| DiffSeg + DenseCRF | 0.100 [" in markdown and "Small lesions are usually the hard ones" in markdown


def test_size_bins_resample_whole_groups_when_the_images_have_them():
    per_image = scores()
    per_image["lesion_id"] = per_image["id"]
    ungrouped = dice_by_size(per_image, n_resamples=200)
    # One group per image: the same interval; the note says how it was drawn.
    pd.testing.assert_frame_equal(dice_by_size(per_image, n_resamples=200, group="lesion_id"), ungrouped)
    assert "resampling whole `lesion_id` groups" in dice_by_size_markdown(ungrouped, "lesion_id")
    assert "groups" not in dice_by_size_markdown(ungrouped)
    per_image["lesion_id"] = "one lesion"
    grouped = dice_by_size(per_image, n_resamples=200, group="lesion_id")
    shown = grouped[grouped["n"] > 0]
    # A single group: every resample draws the same images, so the interval shrinks to the mean.
    np.testing.assert_allclose(shown["ci_low"], shown["mean"])
    np.testing.assert_allclose(shown["ci_high"], shown["mean"])


def test_scores_without_the_lesion_share_are_refused():
    with pytest.raises(ValueError, match="truth_fraction"):
        dice_by_size(scores().drop(columns="truth_fraction"))


def test_coverage_counts_empty_and_all_lesion_masks():
    assert coverage([0.0, 0.05, 0.20, 0.30, 0.40, 0.95]) == {
        "n": 6, "empty": 1, "all_lesion": 1, "pred_fraction_mean": pytest.approx(0.3167, abs=1e-4),
        "covers_frame": False}  # fmt: skip


def test_masks_cover_the_frame_when_they_average_half_of_it_or_are_mostly_all_lesion():
    assert covers_frame([0.55, 0.60, 0.60, 0.60, 0.60, 0.70])  # mean 0.608, none all lesion
    assert covers_frame([0.50, 0.50])  # mean exactly half
    assert covers_frame([0.95, 0.90, 0.0])  # 2 of 3 all lesion (≥ 0.9), mean 0.617
    assert covers_frame([0.95, 0.95, 0.95, 0.0, 0.0])  # 3 of 5 all lesion, mean 0.57
    assert not covers_frame([0.0, 0.95, 0.92, 0.99, 0.10, 0.0])  # 3 of 6 is not more than half; mean 0.493
    assert not covers_frame([0.0, 0.95, 0.89, 0.10])  # one all lesion (0.89 is not), mean 0.485
    assert not covers_frame([])


def test_mask_coverage_table_and_markdown():
    table = mask_coverage(scores()).set_index("key")
    assert table.loc["otsu", ["n", "empty", "all_lesion"]].tolist() == [6, 1, 1]
    assert table.loc["diffseg_crf", ["empty", "all_lesion"]].tolist() == [1, 4]
    assert table.loc["diffseg_crf", "covers_frame"] and table.loc["diffseg_mean", "covers_frame"]
    assert not table.loc["otsu", "covers_frame"] and not table.loc["unet", "covers_frame"]
    assert table.loc["unet", "truth_fraction_mean"] == pytest.approx(np.mean(TRUTH))
    markdown = mask_coverage_markdown(table.reset_index())
    assert "| Method | n | Empty masks | All-lesion masks (≥ 90 % of the frame) |" in markdown
    assert "| DiffSeg + DenseCRF | 6 | 1 | 4 | 0.768 | yes |" in markdown
    assert "| Training-free (Otsu) | 6 | 1 | 1 | 0.317 | no |" in markdown
    assert f"The true lesions cover {np.mean(TRUTH):.3f} of the frame on average." in " ".join(markdown.split())


def test_coverage_cell_reads_the_prefixed_columns():
    row = pd.Series({f"diffseg_crf_{name}": value for name, value in coverage(PRED["diffseg_crf"]).items()})
    assert coverage_cell(row, "diffseg_crf") == "share 0.768; 1 empty, 4 of 6 all-lesion"
    assert coverage_cell(pd.Series({"x_n": 0}), "x") == "–"


def test_write_breakdown_writes_the_tables_the_documents_read(tmp_path):
    outputs = SimpleNamespace(**{name: tmp_path / f"{name}.{'md' if 'markdown' in name else 'csv'}" for name in
                                 ("size_bins", "size_bins_markdown", "mask_coverage", "mask_coverage_markdown")})
    write_breakdown(scores(), outputs, n_resamples=100)
    assert len(pd.read_csv(outputs.size_bins)) == 5 * 4
    assert pd.read_csv(outputs.mask_coverage)["covers_frame"].tolist() == [False, False, False, True, True]
    sections = breakdown_sections(outputs.size_bins_markdown, outputs.mask_coverage_markdown)
    assert list(sections) == [SIZE_BINS_HEADING, MASK_COVERAGE_HEADING]
    assert sections[SIZE_BINS_HEADING].startswith("| Method | < 10 % (n = 2) |")


def test_the_rows_can_be_table1s_own_when_it_chose_its_step_elsewhere():
    """A best step chosen on a development split is the one broken down, not the test images' best."""
    methods = [("best_step", "step_060", "DiffSeg best single step (t = 60, chosen elsewhere)")]
    by_size = dice_by_size(scores(), n_resamples=100, methods=methods)
    assert by_size["mean"].tolist() == pytest.approx([0.15, 0.30, 0.45, 0.60])
    assert set(by_size["method"]) == {methods[0][2]}
    masks = mask_coverage(scores(), methods)
    assert masks["pred_fraction_mean"].tolist() == pytest.approx([np.mean(PRED["step_060"])])
