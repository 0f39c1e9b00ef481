"""Segmentation scores (by hand and against the official ISIC scorer) and the cohort statistics."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from scipy import ndimage

from diffseg.data.images import read_mask, write_png
from diffseg.evaluation.metrics import JACCARD_THRESHOLD, ranking_auc, segmentation_scores
from diffseg.evaluation.scoring import score_shard
from diffseg.evaluation.statistics import (
    bootstrap_ci,
    holm,
    paired_wilcoxon,
    rank_biserial,
    resampled_means,
    spearman,
)


def square(top: int, left: int, side: int, shape=(10, 10)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + side, left : left + side] = True
    return mask


def test_scores_of_two_overlapping_squares_by_hand():
    truth = square(0, 0, 4)  # 16 pixels
    pred = square(2, 0, 4)  # 16 pixels, 8 shared
    scores = segmentation_scores(pred, truth)
    assert scores["dice"] == pytest.approx(2 * 8 / 32)
    assert scores["iou"] == pytest.approx(8 / 24)
    assert scores["precision"] == pytest.approx(8 / 16)
    assert scores["recall"] == pytest.approx(8 / 16)
    assert scores["specificity"] == pytest.approx(76 / 84)
    assert scores["accuracy"] == pytest.approx(84 / 100)
    assert scores["thresholded_jaccard"] == 0.0  # IoU 1/3 is a failed segmentation


def test_thresholded_jaccard_keeps_iou_from_the_threshold_on():
    truth = square(0, 0, 10)
    pred = truth.copy()
    pred[:, :3] = False  # IoU 0.7
    assert segmentation_scores(pred, truth)["thresholded_jaccard"] == pytest.approx(0.7)
    pred[:, :4] = False  # IoU 0.6
    assert JACCARD_THRESHOLD > segmentation_scores(pred, truth)["iou"] == pytest.approx(0.6)
    assert segmentation_scores(pred, truth)["thresholded_jaccard"] == 0.0


def test_empty_mask_conventions():
    empty = np.zeros((6, 6), bool)
    lesion = square(1, 1, 2, (6, 6))
    both_empty = segmentation_scores(empty, empty)
    assert both_empty == {key: 1.0 for key in both_empty}
    missed = segmentation_scores(empty, lesion)  # found nothing on a lesion image
    assert (missed["dice"], missed["iou"], missed["precision"], missed["recall"]) == (0.0, 0.0, 0.0, 0.0)
    assert missed["specificity"] == 1.0
    false_alarm = segmentation_scores(lesion, empty)  # lesion drawn on healthy skin
    assert (false_alarm["dice"], false_alarm["precision"], false_alarm["recall"]) == (0.0, 0.0, 1.0)
    assert false_alarm["specificity"] == pytest.approx(32 / 36)
    full = np.ones((6, 6), bool)
    assert segmentation_scores(full, full)["specificity"] == 1.0


def test_score_shard_records_the_share_of_the_frame_of_the_truth_and_each_mask():
    truth = [square(0, 0, 5), square(0, 0, 2)]  # 25 and 4 of 100 pixels
    methods = {
        "whole": np.ones((2, 10, 10), np.float32),
        "empty": np.zeros((2, 10, 10), np.float32),
        "square": np.stack([square(0, 0, 5), square(0, 0, 4)]).astype(np.float32),
        "small_map": np.ones((2, 5, 5), np.float32) * 0.6,  # upsampled to the truth's 10 × 10, labelled at 0.5
    }
    scores = score_shard(["a", "b"], lambda j: truth[j], methods).set_index(["id", "method"])
    assert scores["truth_fraction"].xs("a", level="id").tolist() == [0.25] * 4
    assert scores["truth_fraction"].xs("b", level="id").tolist() == [0.04] * 4
    assert scores.loc[("a", "whole"), "pred_fraction"] == 1.0 and scores.loc[("b", "empty"), "pred_fraction"] == 0.0
    assert scores.loc[("b", "square"), "pred_fraction"] == 0.16 and scores.loc[("b", "square"), "dice"] == 8 / 20
    assert scores.loc[("a", "small_map"), "pred_fraction"] == 1.0
    assert scores.loc[("a", "square"), "dice"] == 1.0


def test_masks_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        segmentation_scores(np.zeros((4, 4), bool), np.zeros((4, 5), bool))


# --- against the official ISIC challenge scorer, on real masks -----------------------------------

ISIC_KEYS = {"accuracy": "accuracy", "sensitivity": "recall", "specificity": "specificity",
             "jaccard": "iou", "threshold_jaccard": "thresholded_jaccard", "dice": "dice"}


def perturbations(truth: np.ndarray) -> dict[str, np.ndarray]:
    """Predictions from a real mask: the kinds of error a segmentation makes, small to total."""
    return {
        "eroded": ndimage.binary_erosion(truth, iterations=6),
        "dilated": ndimage.binary_dilation(truth, iterations=9),
        "shifted": np.roll(truth, (17, -11), axis=(0, 1)),
        "shifted_far": np.roll(truth, 120, axis=1),
        "empty": np.zeros_like(truth),
        "everything": np.ones_like(truth),
    }


# The scorer calls Series.rename(inplace=True), which pandas 3.1 deprecates; not our code.
@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_scores_agree_with_the_official_isic_scorer_on_real_masks(isic_sample, tmp_path):
    # requirements-dev.txt installs the scorer, so `make test` (and CI) always has it: no skip.
    import isic_challenge_scoring as scoring
    from isic_challenge_scoring.confusion import create_binary_confusion_matrix
    from isic_challenge_scoring.load_image import load_segmentation_image

    mask_paths = sorted((isic_sample / "masks").glob("ISIC_*_segmentation.png"))[::10]
    truths = {path.name.split("_segmentation")[0]: read_mask(path) for path in mask_paths}
    (tmp_path / "truth").mkdir()
    for path in mask_paths:
        shutil.copy(path, tmp_path / "truth" / path.name)

    thresholded = []
    for kind in perturbations(next(iter(truths.values()))):
        ours = []
        for image_id, truth in truths.items():
            pred = perturbations(truth)[kind]
            write_png(tmp_path / kind / f"{image_id}.png", pred)
            mine = segmentation_scores(pred, truth)
            ours.append(mine)
            # Per image: their confusion matrix and metric functions on the masks as they read them.
            truth_png = isic_sample / "masks" / f"{image_id}_segmentation.png"
            cm = create_binary_confusion_matrix(
                truth_binary_values=load_segmentation_image(truth_png) > 128,
                prediction_binary_values=load_segmentation_image(tmp_path / kind / f"{image_id}.png") > 128,
            )
            for theirs, key in ISIC_KEYS.items():
                expected = getattr(scoring.metrics, f"binary_{theirs}")(cm)
                assert mine[key] == pytest.approx(expected, abs=1e-12), (kind, image_id, key)
        # Cohort: their whole scorer (file matching, loading, macro average) against our mean.
        official = scoring.segmentation.SegmentationScore.from_dir(tmp_path / "truth", tmp_path / kind)
        official = official.macro_average
        for theirs, key in ISIC_KEYS.items():
            assert np.mean([s[key] for s in ours]) == pytest.approx(official[theirs], abs=1e-12), (kind, key)
        thresholded += [s["thresholded_jaccard"] for s in ours]
    # The perturbations fall on both sides of the 0.65 threshold, so both branches were compared.
    assert len(truths) == 10 and 0.0 in thresholded and max(thresholded) > JACCARD_THRESHOLD


# --- cohort statistics ---------------------------------------------------------------------------


def test_bootstrap_ci_brackets_the_mean_and_narrows_with_more_images():
    rng = np.random.default_rng(0)
    small = rng.normal(0.7, 0.1, 20)
    large = rng.normal(0.7, 0.1, 2000)
    low, high = bootstrap_ci(small, n_resamples=2000, seed=1)
    assert low < small.mean() < high
    # The 95 % percentile interval of a mean spans about ±1.96 standard errors.
    assert high - low == pytest.approx(2 * 1.96 * small.std() / np.sqrt(20), rel=0.2)
    low_l, high_l = bootstrap_ci(large, n_resamples=2000, seed=1)
    assert high_l - low_l < (high - low) / 5
    assert bootstrap_ci(small, 500, seed=3) == bootstrap_ci(small, 500, seed=3)


def test_bootstrap_ci_edge_cases():
    assert bootstrap_ci([0.4], 100, 0) == (0.4, 0.4)
    assert bootstrap_ci([0.2, np.nan, 0.2], 100, 0) == (0.2, 0.2)
    assert all(np.isnan(bootstrap_ci([], 100, 0)))
    low50, high50 = bootstrap_ci(np.arange(50.0), 1000, 0, level=0.5)
    low95, high95 = bootstrap_ci(np.arange(50.0), 1000, 0, level=0.95)
    assert low95 < low50 < high50 < high95


def test_a_lesion_photographed_many_times_widens_the_interval_as_one_unit():
    # 30 lesions, each photographed 4 times with nearly the same Dice: 120 images but 30 pieces of
    # evidence. Image by image the interval is half as wide as it should be (√4); by lesion it is not.
    rng = np.random.default_rng(0)
    lesion_dice = rng.uniform(0.3, 0.9, 30)
    values = np.repeat(lesion_dice, 4) + rng.normal(0, 0.001, 120)
    lesions = np.repeat(np.arange(30), 4)
    low_i, high_i = bootstrap_ci(values, 2000, 0)
    low_g, high_g = bootstrap_ci(values, 2000, 0, groups=lesions)
    low_one, high_one = bootstrap_ci(lesion_dice, 2000, 0)
    assert (high_g - low_g) == pytest.approx(high_one - low_one, rel=0.15)
    assert (high_g - low_g) / (high_i - low_i) == pytest.approx(2, rel=0.2)
    assert low_g < values.mean() < high_g


def test_one_image_per_group_is_the_image_bootstrap_and_groups_of_unequal_size_weigh_images():
    values = np.random.default_rng(1).random(40)
    assert bootstrap_ci(values, 500, 3, groups=[f"g{i:02d}" for i in range(40)]) == bootstrap_ci(values, 500, 3)
    # Two groups of 1 and 3 images: every resample's mean is a mean over its images, not of group means.
    means = resampled_means(np.array([0.0, 1.0, 1.0, 1.0]), 200, 0, groups=["a", "b", "b", "b"])
    assert set(np.round(means, 6)) <= {0.0, 0.75, 1.0}
    two_columns = resampled_means(np.c_[values, 1 - values], 50, 0, groups=np.arange(40) // 2)
    np.testing.assert_allclose(two_columns.sum(axis=1), 1.0)
    assert bootstrap_ci([0.2, np.nan, 0.4], 100, 0, groups=["a", "b", "a"]) == (pytest.approx(0.3), pytest.approx(0.3))
    with pytest.raises(ValueError, match="3 group labels for 2 values"):
        resampled_means([0.1, 0.2], 10, 0, groups=["a", "b", "c"])


def test_the_paired_test_by_group_pairs_each_groups_mean_difference():
    a = np.array([1.0, 1.2, 2.0, 3.0, 4.0, 5.0, 6.0])
    b = np.array([0.5, 0.5, 1.4, 2.3, 3.2, 4.1, 5.0])
    groups = ["L1", "L1", "L2", "L3", "L4", "L5", "L6"]
    # 6 groups, all mean differences positive and distinct: W = 0, exact p = 2 / 2⁶, not 2 / 2⁷.
    assert paired_wilcoxon(a, b, groups) == (0.0, pytest.approx(2 / 64))
    assert paired_wilcoxon(a, b) == (0.0, pytest.approx(2 / 128))
    assert paired_wilcoxon([1.0, np.nan], [1.0, 2.0], ["a", "b"]) == (0.0, 1.0)


def test_paired_wilcoxon_detects_a_consistent_shift_and_not_noise():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 0.9, 40)
    _, p_shift = paired_wilcoxon(a + 0.05 + rng.normal(0, 0.01, 40), a)
    _, p_noise = paired_wilcoxon(a + rng.normal(0, 0.05, 40), a)
    assert p_shift < 1e-6 and p_noise > 0.01
    assert paired_wilcoxon(a, a) == (0.0, 1.0)
    # 6 pairs, all differences positive and distinct: W = 0, exact two-sided p = 2 / 2⁶.
    statistic, p = paired_wilcoxon([1, 2, 3, 4, 5, 6], [0.5, 1.4, 2.3, 3.2, 4.1, 5.0])
    assert (statistic, p) == (0.0, pytest.approx(2 / 64))
    assert paired_wilcoxon([1.0, np.nan, 3.0], [1.0, 2.0, 3.0]) == (0.0, 1.0)


def test_spearman_ignores_missing_pairs_and_counts_the_rest():
    x = np.array([1, 2, 3, 4, 5, np.nan, 7])
    y = np.array([2, 4, 9, 16, 30, 1.0, np.nan])
    rho, p, n = spearman(x, y)
    assert (rho, n) == (pytest.approx(1.0), 5)
    rho, _, _ = spearman(x, -y)
    assert rho == pytest.approx(-1.0)
    assert np.isnan(spearman([1, 2], [3, 4])[0]) and spearman([1, 2], [3, 4])[2] == 2
    assert np.isnan(spearman([1, 1, 1, 1], [1, 2, 3, 4])[0])


def test_holm_matches_hand_computed_adjustment():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])


def test_holm_leaves_tests_not_made_out_of_the_family_and_caps_at_one():
    adjusted = holm([np.nan, 0.02, 0.6, np.nan])
    assert np.isnan(adjusted[0]) and np.isnan(adjusted[3])
    np.testing.assert_allclose(adjusted[1:3], [0.04, 0.6])
    assert holm([0.5, 0.7, 0.9]).max() == 1.0


def test_ranking_auc_is_one_for_a_perfect_map_a_half_for_a_flat_one_and_matches_a_pair_count():
    truth = np.zeros((8, 8), bool)
    truth[2:5, 3:7] = True
    assert ranking_auc(truth.astype(float), truth) == 1.0
    assert ranking_auc(1.0 - truth, truth) == 0.0
    assert ranking_auc(np.ones((8, 8)), truth) == 0.5
    score = np.random.default_rng(0).random((8, 8))
    pairs = (score[truth][:, None] > score[~truth][None, :]).mean()  # P(lesion pixel outranks skin pixel)
    assert ranking_auc(score, truth) == pytest.approx(pairs)
    assert np.isnan(ranking_auc(score, np.ones((8, 8), bool)))


def test_the_rank_biserial_gives_the_signed_rank_tests_direction_not_the_means():
    # A few large gains, many small losses: the mean difference is positive, the ranks point the other way.
    a = np.r_[np.full(4, 0.9), np.full(36, 0.49)]
    b = np.full(40, 0.5)
    assert (a - b).mean() > 0 and rank_biserial(a, b) < -0.5
    assert rank_biserial(b + 0.1, b) == 1.0 and rank_biserial(b - 0.1, b) == -1.0
    assert np.isnan(rank_biserial(b, b))  # no nonzero difference: no direction
    # Grouped as the test groups them: a lesion photographed twice is one pair.
    groups = np.repeat(np.arange(20), 2)
    assert rank_biserial(a, b, groups) == rank_biserial(a[::2] * 0.5 + a[1::2] * 0.5, b[::2])
