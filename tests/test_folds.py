"""Cross-validation folds: stratified by lesion area, seeded, disjoint and covering the cohort."""

import numpy as np
import pandas as pd
import pytest

from diffseg.data.folds import assign_folds, fold_splits, lesion_area_fractions
from diffseg.data.images import write_png


def test_every_fold_spans_the_lesion_sizes():
    rng = np.random.default_rng(0)
    areas = rng.uniform(0.01, 0.9, size=100)
    folds = assign_folds([f"img{i}" for i in range(100)], areas, n_folds=5, seed=0)
    assert np.bincount(folds).tolist() == [20] * 5
    # Each block of 5 consecutive areas feeds every fold once, so the folds' area quantiles agree.
    quartiles = np.array([np.quantile(areas[folds == k], [0.25, 0.5, 0.75]) for k in range(5)])
    assert np.ptp(quartiles, axis=0).max() < 0.1
    ordered = folds[np.argsort(areas)]
    assert all(sorted(ordered[b:b + 5]) == list(range(5)) for b in range(0, 100, 5))


def test_same_seed_same_folds_other_seed_other_folds():
    ids, areas = [f"ISIC_{i:07d}" for i in range(40)], np.linspace(0, 1, 40)
    first = assign_folds(ids, areas, 4, seed=1)
    assert (assign_folds(ids, areas, 4, seed=1) == first).all()
    assert (assign_folds(ids, areas, 4, seed=2) != first).any()
    # The order of the rows does not matter, only the ids and areas.
    reversed_folds = assign_folds(ids[::-1], areas[::-1], 4, seed=1)
    assert (reversed_folds[::-1] == first).all()


def test_images_without_mask_form_their_own_stratum_and_short_blocks_are_spread():
    areas = np.array([np.nan] * 3 + list(np.linspace(0.1, 0.5, 8)))
    folds = assign_folds([str(i) for i in range(11)], areas, 2, seed=0)
    assert sorted(np.bincount(folds).tolist()) == [5, 6]
    assert len(set(folds[:3])) == 2  # the three mask-less images do not all land in one fold


def test_bad_fold_settings_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        assign_folds(["a", "b"], [0.1, 0.2], 1, 0)
    with pytest.raises(ValueError, match="cannot fill"):
        assign_folds(["a", "b"], [0.1, 0.2], 3, 0)


def test_fold_splits_reads_the_masks_and_marks_one_fold_as_test(tmp_path):
    rows = []
    for i in range(6):
        mask = np.zeros((20, 20), bool)
        mask[: 2 + 3 * i] = True
        write_png(tmp_path / f"m{i}.png", mask)
        rows.append({"id": f"m{i}", "image_path": "", "mask_path": str(tmp_path / f"m{i}.png"), "label": 1,
                     "split": ""})
    (tmp_path / "broken.png").write_bytes(b"not a png")
    rows.append({"id": "broken", "image_path": "", "mask_path": str(tmp_path / "broken.png"), "label": 1,
                 "split": ""})
    cohort = pd.DataFrame(rows)
    areas = lesion_area_fractions(cohort["mask_path"])
    assert areas[:6] == pytest.approx([(2 + 3 * i) / 20 for i in range(6)]) and np.isnan(areas[6])
    splits = [fold_splits(cohort, k, 2, seed=0) for k in range(2)]
    tests = [set(s.loc[s["split"] == "test", "id"]) for s in splits]
    assert tests[0].isdisjoint(tests[1]) and tests[0] | tests[1] == set(cohort["id"])
    assert (splits[0]["fold"] == splits[1]["fold"]).all()
    with pytest.raises(ValueError, match="not among"):
        fold_splits(cohort, 2, 2, 0)
