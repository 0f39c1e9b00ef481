"""The verdict of a benchmark on constructed scores: which training-free row is the bar, when a DiffSeg
row beats it, and what the large-lesion bin says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from diffseg.evaluation.controls import control_comparisons
from diffseg.evaluation.verdict import best_training_free, verdict, verdict_markdown, verdicts


def _scores(n: int = 160, seed: int = 0, large_share: float = 0.15) -> pd.DataFrame:
    """Per-image scores of the training-free rows, DiffSeg's rows and the control's student: DiffSeg
    wins by 0.08 on small lesions and loses 0.2 on lesions over half the frame, missing part of them."""
    rng = np.random.default_rng(seed)
    truth = np.where(rng.random(n) < large_share, rng.uniform(0.5, 0.9, n), rng.uniform(0.01, 0.4, n))
    large = truth >= 0.5
    base = rng.uniform(0.5, 0.8, n)
    level = {"otsu": -0.02, "otsu_crf": 0.0, "otsu_crf_student": 0.01}
    rows = []
    for method, shift in level.items():
        rows += _rows(method, base + shift + rng.normal(0, 0.01, n), truth, recall=0.8, precision=0.8)
    for method in ("diffseg_crf", "diffseg_student"):
        dice = base + np.where(large, -0.2, 0.08) + rng.normal(0, 0.01, n)
        rows += _rows(method, dice, truth, recall=np.where(large, 0.5, 0.85), precision=0.9)
    return pd.DataFrame(rows)


def _rows(method, dice, truth, recall, precision) -> list[dict]:
    recall, precision = np.broadcast_to(recall, dice.shape), np.broadcast_to(precision, dice.shape)
    return [{"id": f"img{i:03d}", "method": method, "dice": d, "truth_fraction": t, "recall": r, "precision": p,
             "lesion_id": f"lesion{i // 2}"} for i, (d, t, r, p) in enumerate(zip(dice, truth, recall, precision, strict=True))]


def test_the_bar_is_the_better_training_free_row_of_those_images():
    scores = _scores()
    assert best_training_free(scores) == "otsu_crf"
    scores.loc[scores["method"] == "otsu", "dice"] += 0.1
    assert best_training_free(scores) == "otsu"
    assert best_training_free(scores[scores["method"] == "diffseg_crf"]) is None


def test_a_row_beats_the_bar_by_its_holm_adjusted_comparison_and_the_large_bin_says_how_it_fails():
    scores = _scores()
    table = verdict("test", scores, n_resamples=300)
    assert list(zip(table["ours"], table["control"], strict=True)) == [
        ("diffseg_crf", "otsu_crf"), ("diffseg_student", "otsu_crf"), ("diffseg_student", "otsu_crf_student")]
    family = control_comparisons(scores, n_resamples=300).set_index(["ours", "control"])
    fused = table.iloc[0]
    # The same comparison as the fair-controls table of the same images, Holm p included.
    assert fused["p_holm"] == family.loc[("diffseg_crf", "otsu_crf"), "p_holm"]
    assert fused["difference"] == pytest.approx(family.loc[("diffseg_crf", "otsu_crf"), "difference"])
    large = scores[(scores["method"] == "otsu") & (scores["truth_fraction"] >= 0.5)]
    assert fused["large_n"] == len(large) > 10
    assert fused["large_ci_high"] < -0.15 < fused["large_difference"] + 0.1
    assert fused["ours_recall"] == pytest.approx(0.5) and fused["control_recall"] == pytest.approx(0.8)
    # With few large lesions DiffSeg wins overall; with many it loses, and beats nothing.
    assert fused["difference"] > 0 and fused["beats"]
    losing = verdict("test", _scores(large_share=0.7), n_resamples=300)
    assert not losing["beats"].any() and (losing["difference"] < 0).all()
    assert losing.loc[0, "outcome"] == "worse" and fused["outcome"] == "yes"


def test_grouped_images_widen_the_large_bin_interval():
    scores = _scores(n=200)
    alone = verdict("test", scores, n_resamples=500).iloc[0]
    grouped = verdict("test", scores, group="lesion_id", n_resamples=500).iloc[0]
    assert grouped["large_difference"] == pytest.approx(alone["large_difference"])
    assert grouped["large_ci_high"] - grouped["large_ci_low"] > alone["large_ci_high"] - alone["large_ci_low"]


def test_the_verdicts_of_several_sets_read_as_one_table():
    scores = _scores()
    no_large = scores[scores["truth_fraction"] < 0.5]
    without_student = scores[~scores["method"].str.contains("student")]
    table = verdicts({"all": (scores, None), "small": (no_large, None), "no student": (without_student, None),
                      "nothing": (scores[scores["method"] == "otsu"], None)}, n_resamples=200, seed=0)
    assert table["images"].tolist() == ["all"] * 3 + ["small"] * 3 + ["no student"]
    markdown = verdict_markdown(table)
    lines = markdown.splitlines()
    assert lines[0].startswith("| images | DiffSeg row | control |") and "≥ 50 %: n" in lines[0]
    small = [line for line in lines if line.startswith("| small | DiffSeg + DenseCRF")][0]
    assert "| yes | 0 | – | – | – |" in small
    assert "Holm p < 0.05" in markdown
    assert verdict_markdown(verdicts({}, 10, 0)) == ""


def test_a_subset_that_is_one_kind_of_image_is_named_as_such():
    from diffseg.reports.benchmark import same_images_notes

    scores = _scores(n=10).assign(kind=lambda frame: frame["id"].str[-1].astype(int) % 2)
    scores["seen"] = scores["kind"]  # the seen images are exactly one kind
    subsets = {"seen": {"0": "never seen", "1": "seen"}}
    notes = same_images_notes(scores, subsets, ["kind", "seen"])
    assert notes == ["The 5 images never seen are exactly those with `kind` = 0: what sets their Dice apart "
                     "may come from either.", "The 5 images seen are exactly those with `kind` = 1: what sets "
                     "their Dice apart may come from either."]
    scores.loc[scores["id"] == "img000", "kind"] = 1
    assert same_images_notes(scores, subsets, ["kind", "seen"]) == []


def test_where_a_claim_does_not_hold_the_document_says_by_how_much_and_what_the_numbers_say_of_why():
    """A set on which no DiffSeg row beats the bar is named with its closest row, its interval and the
    gain its size cannot show; a DiffSeg row below the bar on lesions over half the frame, with whether
    its masks miss part of them (Recall) or spill beyond them (Precision)."""
    from diffseg.evaluation.verdict import shortfalls

    scores = _scores()  # DiffSeg wins overall, loses 0.2 on large lesions, missing part of them
    wins = verdict_markdown(verdict("winning set", scores))
    assert "no DiffSeg row beats" not in wins
    assert "- winning set: on the " in wins and "Dice below Training-free (Otsu) + DenseCRF" in wins
    assert "its masks miss part of those lesions (Recall 0.500 against 0.800)" in wins
    even = scores.copy()
    small = even["truth_fraction"] < 0.5
    even.loc[small & even["method"].str.startswith("diffseg"), "dice"] -= 0.08  # no gain left
    lines = shortfalls(verdict("even set", even))
    closest = next(line for line in lines if "no DiffSeg row beats" in line)
    assert closest.startswith("- even set: no DiffSeg row beats Training-free (Otsu) + DenseCRF. The closest, ")
    assert "so a gain smaller than that cannot be shown there." in closest
    assert shortfalls(verdict("winning set", scores[scores["truth_fraction"] < 0.5])) == []
    # A few large gains and many small losses: the mean's interval lies above 0, the signed ranks do not agree.
    skewed = scores.copy()
    control = skewed[skewed["method"] == "otsu_crf"].set_index("id")["dice"]
    gains = np.where(np.arange(len(control)) % 10 == 0, 0.3, -0.005)
    for method in ("diffseg_crf", "diffseg_student"):
        rows = skewed["method"] == method
        skewed.loc[rows, "dice"] = (control + gains).loc[skewed.loc[rows, "id"]].to_numpy()
    skewed_lines = shortfalls(verdict("skewed set", skewed))
    assert any(line.startswith("- skewed set: no DiffSeg row beats") and "the signed-rank test does not point its way" in line
               for line in skewed_lines), skewed_lines


def test_a_set_shown_worse_and_a_large_bin_loss_neither_recall_nor_precision_explains_are_said_as_such():
    from diffseg.evaluation.verdict import shortfalls

    scores = _scores()
    worse = scores.copy()
    worse.loc[worse["method"].str.startswith("diffseg"), "dice"] -= 0.1  # every image loses
    closest = next(line for line in shortfalls(verdict("worse set", worse)) if "no DiffSeg row beats" in line)
    assert "it is worse (Holm p = " in closest and "rank-biserial r = -0." in closest
    # The large lesions lose Dice although DiffSeg's Recall and Precision there are both the higher.
    level = scores.copy()
    level.loc[level["method"].str.startswith("diffseg"), ["recall", "precision"]] = 0.95
    loss = next(line for line in shortfalls(verdict("level set", level)) if "lesions covering" in line)
    assert "neither its Recall (0.950 against 0.800) nor its Precision (0.950 against 0.800) is the lower" in loss
    table = verdict("winning set", scores)
    assert "| rank-biserial r |" in verdict_markdown(table) and (table["rank_biserial"] > 0).all()
