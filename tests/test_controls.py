"""DiffSeg's rows against their fair controls: paired differences with CIs, one Holm family per table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from diffseg.evaluation.controls import comparisons_markdown, control_comparisons


def scores(means: dict[str, float], n: int = 30, seed: int = 0, lesions: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 0.05, n)  # shared by every method: the image's difficulty
    rows = [{"id": f"i{i}", "method": method, "dice": float(np.clip(mean + noise[i] + rng.normal(0, 0.01), 0, 1)),
             "lesion": f"L{i % lesions}" if lesions else f"L{i}"}
            for method, mean in means.items() for i in range(n)]
    return pd.DataFrame(rows)


def test_each_diffseg_row_is_compared_with_each_control_present():
    table = control_comparisons(scores({"diffseg_crf": 0.80, "otsu": 0.70, "otsu_crf": 0.79}), n_resamples=300)
    assert list(zip(table["ours"], table["control"], strict=True)) == [("diffseg_crf", "otsu"), ("diffseg_crf", "otsu_crf")]
    big, small = table.iloc[0], table.iloc[1]
    assert big["difference"] > 0.08 and big["ci_low"] > 0.05 and big["p_holm"] < 0.001
    assert 0 < small["difference"] < 0.02 and small["ci_low"] < small["difference"] < small["ci_high"]
    # Holm: the adjusted p-values are never below the raw ones.
    assert (table["p_holm"] >= table["p"]).all()
    assert "| DiffSeg + DenseCRF | Training-free (Otsu) + DenseCRF | 30 |" in comparisons_markdown(table)


def test_a_student_is_compared_with_its_control_and_its_teacher_and_groups_count_once():
    means = {"diffseg_crf": 0.80, "otsu_crf": 0.79, "diffseg_student": 0.84, "otsu_crf_student": 0.80}
    table = control_comparisons(scores(means), n_resamples=300)
    assert ("diffseg_student", "otsu_crf_student") in set(zip(table["ours"], table["control"], strict=True))
    assert ("diffseg_student", "diffseg_crf") in set(zip(table["ours"], table["control"], strict=True))
    grouped = control_comparisons(scores(means, lesions=10), group="lesion", n_resamples=300)
    alone = control_comparisons(scores(means, lesions=10), n_resamples=300)
    # Ten lesions photographed three times are ten pairs, not thirty: a larger p for the same images.
    assert (grouped["p"] >= alone["p"]).all() and (grouped["p"] > alone["p"]).any()
    assert comparisons_markdown(control_comparisons(scores({"otsu": 0.7}))) == ""
