"""The label-efficiency curve and the mask-free rows' places on it, on constructed curves."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from diffseg.evaluation.label_efficiency import (
    budget_method,
    budget_of,
    budget_subset,
    curve_methods,
    label_efficiency,
    read_worths,
    worth_in_masks,
    worth_table,
)
from diffseg.evaluation.table import LABELS
from diffseg.reports.benchmark import label_efficiency_section
from diffseg.reports.figures import DPI, save_figure
from diffseg.reports.figures.label_efficiency import HEIGHT, WIDTH, label_efficiency_figure


def test_budget_names_round_trip_and_other_methods_have_none():
    assert budget_method(30) == "unet_30" and budget_of("unet_30") == 30
    assert budget_of("unet") is None and budget_of("diffseg_crf") is None and budget_of("unet_x") is None


def test_budget_subsets_are_nested_seeded_and_checked():
    ids = [f"ISIC_{i:07d}" for i in range(200)]
    small, large = budget_subset(ids, 10, seed=0), budget_subset(ids, 100, seed=0)
    assert len(small) == 10 and len(large) == 100 and set(small) <= set(large)
    assert np.array_equal(small, budget_subset(ids, 10, seed=0))
    assert not np.array_equal(small, budget_subset(ids, 10, seed=1))
    with pytest.raises(ValueError, match="has 200"):
        budget_subset(ids, 201, seed=0)


def test_curve_points_are_the_budgets_and_the_full_unet_by_masks():
    methods = ["otsu", "unet", "unet_100", "unet_10", "diffseg_crf", "step_060"]
    assert curve_methods(methods, full_masks=1700) == {"unet_10": 10, "unet_100": 100, "unet": 1700}


def test_worth_interpolates_dice_against_log_masks():
    masks, dice = [10, 100, 1000], [0.5, 0.7, 0.8]
    assert worth_in_masks(masks, dice, 0.6) == pytest.approx(math.sqrt(10 * 100))  # halfway in log
    assert worth_in_masks(masks, dice, 0.7) == pytest.approx(100)
    assert worth_in_masks(masks, dice, 0.75) == pytest.approx(10**2.5)
    assert worth_in_masks(masks, dice, 0.4) == -math.inf
    assert worth_in_masks(masks, dice, 0.9) == math.inf
    # A curve that dips: the first N at which it reaches the target.
    assert worth_in_masks([10, 100, 1000], [0.5, 0.8, 0.7], 0.65) == pytest.approx(10**1.5)


def _scores(dice_by_method: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = [{"id": f"img{i}", "method": method, "dice": value}
            for method, values in dice_by_method.items() for i, value in enumerate(values)]
    return pd.DataFrame(rows)


def test_diffseg_is_placed_on_the_curve_with_a_bootstrap_interval():
    rng = np.random.default_rng(0)
    noise = lambda: rng.normal(0, 0.05, 200)  # noqa: E731
    scores = _scores({"unet_10": 0.5 + noise(), "unet_100": 0.7 + noise(), "unet": 0.8 + noise(),
                      "diffseg_crf": 0.6 + noise(), "otsu": 0.65 + noise()})
    curve, worths = label_efficiency(scores, full_masks=1000, n_resamples=500, seed=0)
    worth = worths["diffseg_crf"]
    assert curve["method"].tolist() == ["unet_10", "unet_100", "unet"]
    assert curve["masks"].tolist() == [10, 100, 1000] and (curve["n"] == 200).all()
    assert (curve["ci_low"] < curve["dice_mean"]).all() and (curve["dice_mean"] < curve["ci_high"]).all()
    assert 20 < worth.estimate < 50  # √1000 ≈ 32, moved a little by the noise
    assert 10 < worth.ci_low < worth.estimate < worth.ci_high < 100
    assert worth.text().startswith("≈ ") and "95 % CI" in worth.text()


def test_lesions_photographed_several_times_are_drawn_whole():
    # 50 lesions, 4 images each, with one Dice per lesion: the curve's intervals are those of 50 units.
    rng = np.random.default_rng(0)
    per_lesion = {"unet_10": 0.5, "unet_100": 0.7, "unet": 0.8, "diffseg_crf": 0.6}
    scores = _scores({method: np.repeat(level + rng.normal(0, 0.1, 50), 4) for method, level in per_lesion.items()})
    scores["lesion_id"] = scores["id"].str[3:].astype(int) // 4
    curve, worths = label_efficiency(scores, full_masks=1000, n_resamples=1000, seed=0)
    grouped_curve, grouped_worths = label_efficiency(scores, 1000, 1000, 0, group="lesion_id")
    worth, grouped_worth = worths["diffseg_crf"], grouped_worths["diffseg_crf"]
    np.testing.assert_allclose(grouped_curve["dice_mean"], curve["dice_mean"])
    widths = (grouped_curve["ci_high"] - grouped_curve["ci_low"]) / (curve["ci_high"] - curve["ci_low"])
    assert widths.between(1.6, 2.4).all()  # √4 = 2
    assert grouped_worth.estimate == worth.estimate
    assert grouped_worth.ci_high / grouped_worth.ci_low > worth.ci_high / worth.ci_low


def test_a_censored_worth_reads_as_fewer_or_more_than_the_curve_ends():
    scores = _scores({"unet_10": [0.5, 0.6] * 20, "unet": [0.7, 0.8] * 20, "diffseg_crf": [0.1, 0.2] * 20})
    worth = label_efficiency(scores, full_masks=300, n_resamples=200, seed=0)[1]["diffseg_crf"]
    assert worth.estimate == -math.inf and worth.ci_high == -math.inf
    assert worth.text() == "< 10 labelled images [95 % CI < 10, < 10]"
    scores.loc[scores["method"] == "diffseg_crf", "dice"] = 0.95
    worth = label_efficiency(scores, full_masks=300, n_resamples=200, seed=0)[1]["diffseg_crf"]
    assert worth.estimate == math.inf and "> 300" in worth.text()


def test_without_two_points_or_a_mask_free_row_there_is_no_placement():
    curve, worths = label_efficiency(_scores({"unet": [0.8], "diffseg_crf": [0.6]}), 100, 100, 0)
    assert curve.empty and worths == {}
    curve, worths = label_efficiency(_scores({"unet": [0.8], "unet_10": [0.5]}), 100, 100, 0)
    assert curve.empty and worths == {}


def test_the_student_and_the_controls_are_placed_alike_with_their_gap_to_the_full_unet():
    rng = np.random.default_rng(2)
    noise = lambda: rng.normal(0, 0.05, 300)  # noqa: E731
    scores = _scores({"unet_10": 0.5 + noise(), "unet_100": 0.7 + noise(), "unet": 0.8 + noise(),
                      "otsu_crf": 0.55 + noise(), "diffseg_student": 0.75 + noise(), "diffseg_crf": 0.6 + noise()})
    _, worths = label_efficiency(scores, full_masks=1000, n_resamples=500, seed=0)
    assert list(worths) == ["diffseg_crf", "diffseg_student", "otsu_crf"]  # PLACED's order, absent rows left out
    student, control = worths["diffseg_student"], worths["otsu_crf"]
    assert control.estimate < worths["diffseg_crf"].estimate < 100 < student.estimate < 1000
    dice = scores.pivot(index="id", columns="method", values="dice")
    assert student.gap == pytest.approx((dice["diffseg_student"] - dice["unet"]).mean())
    assert student.gap_low < student.gap < student.gap_high < 0
    assert student.gap_high - student.gap_low < 0.03  # paired: the shared noise of the images cancels


def test_the_worths_survive_their_csv_censored_values_included(tmp_path):
    scores = _scores({"unet_10": [0.5, 0.6] * 20, "unet": [0.7, 0.8] * 20, "diffseg_crf": [0.1, 0.2] * 20,
                      "otsu": [0.95, 0.9] * 20})
    _, worths = label_efficiency(scores, full_masks=300, n_resamples=100, seed=0)
    worth_table(worths).to_csv(tmp_path / "worth.csv", index=False)
    assert read_worths(tmp_path / "worth.csv") == worths
    # Without the U-Net on every mask there is no gap: NaN, which survives as NaN.
    _, gapless = label_efficiency(scores.assign(method=scores["method"].replace("unet", "unet_300")), 300, 100, 0)
    assert math.isnan(gapless["diffseg_crf"].gap)
    worth_table(gapless).to_csv(tmp_path / "gapless.csv", index=False)
    pd.testing.assert_frame_equal(worth_table(read_worths(tmp_path / "gapless.csv")), worth_table(gapless))
    worth_table({}).to_csv(tmp_path / "none.csv", index=False)
    assert read_worths(tmp_path / "none.csv") == {}


def test_the_curve_figure_is_drawn(tmp_path):
    rng = np.random.default_rng(1)
    scores = _scores({"unet_10": rng.uniform(0.3, 0.6, 50), "unet_100": rng.uniform(0.5, 0.8, 50),
                      "unet": rng.uniform(0.7, 0.9, 50), "diffseg_crf": rng.uniform(0.4, 0.8, 50)})
    curve, worths = label_efficiency(scores, full_masks=1000, n_resamples=100, seed=0)
    references = pd.DataFrame({"key": ["otsu", "diffseg_crf"], "method": ["Otsu", "DiffSeg + DenseCRF"],
                               "dice_mean": [0.5, 0.6], "dice_ci_low": [0.45, 0.55], "dice_ci_high": [0.55, 0.65]})
    save_figure(label_efficiency_figure(curve, references, worths), tmp_path / "curve.png")
    with Image.open(tmp_path / "curve.png") as image:
        assert image.format == "PNG" and image.size == (round(WIDTH * DPI), round(HEIGHT * DPI))
        assert np.asarray(image.convert("L"), dtype=np.float32).std() > 20


def test_the_document_places_each_row_and_counts_the_development_masks_that_chose_its_settings():
    rng = np.random.default_rng(3)
    noise = lambda: rng.normal(0, 0.05, 100)  # noqa: E731
    scores = _scores({"unet_10": 0.5 + noise(), "unet": 0.8 + noise(), "otsu": 0.55 + noise(),
                      "diffseg_crf": 0.6 + noise(), "diffseg_student": 0.7 + noise()})
    curve, worths = label_efficiency(scores, full_masks=1000, n_resamples=200, seed=0)
    table = pd.DataFrame({"key": list(LABELS), "method": list(LABELS.values())})
    lines = label_efficiency_section(curve, worths, table, development_masks=193)
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in lines if line.startswith("| ")}
    assert "− Supervised U-Net (1000 masks) [95 % CI]" in rows["Method"]
    # Otsu's settings were not chosen there; DiffSeg's fusion and its student's teacher were.
    assert rows["Training-free (Otsu)"][2] == "0" and rows["DiffSeg + DenseCRF"][2] == "193"
    assert rows["DiffSeg student"][2] == "193" and rows["DiffSeg student"][4].startswith("-0.1")
    assert rows["DiffSeg student"][5] == worths["diffseg_student"].text() + " |"
    assert label_efficiency_section(curve.iloc[:0], {}, table) == []
