"""Generalized Energy Distance and the diversity scores, against hand-computed values."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from diffseg.data.maps import write_maps
from diffseg.method.ged import (
    GED_COLUMNS,
    ged,
    ged_diversity,
    ged_euclidean_diversity,
    ged_shard,
    pairwise_iou_distance,
)


def row_masks(*pixel_sets: set[int], width: int = 4) -> np.ndarray:
    """Masks (n, 1, width) with the listed pixels marked: small enough to compute IoUs by hand."""
    masks = np.zeros((len(pixel_sets), 1, width), bool)
    for mask, pixels in zip(masks, pixel_sets, strict=True):
        mask[0, sorted(pixels)] = True
    return masks


def test_pairwise_distance_matches_one_minus_iou_pair_by_pair():
    rng = np.random.default_rng(1)
    a = rng.random((5, 9, 7)) < 0.3
    b = rng.random((4, 9, 7)) < 0.6
    b[0] = False
    expected = np.array(
        [[1 - (x & y).sum() / (x | y).sum() if (x | y).any() else 0.0 for y in b] for x in a]
    )
    np.testing.assert_allclose(pairwise_iou_distance(a, b), expected, atol=1e-12)


def test_empty_masks_agree_with_each_other_and_are_far_from_any_lesion():
    empty, lesion = row_masks(set(), {1, 2})
    d = pairwise_iou_distance(np.stack([empty, lesion]), np.stack([empty, lesion]))
    assert d.tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert ged(np.stack([empty, empty]), empty) == 0.0
    assert ged(np.stack([empty, empty]), lesion) == 2.0
    # outputs {∅, Y} against Y: 2 · (1 + 0)/2 − (0 + 1 + 1 + 0)/4 = 1/2
    assert ged(np.stack([empty, lesion]), lesion) == pytest.approx(0.5)


def test_identical_outputs_have_no_diversity_and_ged_twice_their_distance():
    outputs = np.zeros((4, 8, 8), bool)
    outputs[:, 2:6, 2:6] = True
    annotation = np.zeros((8, 8), bool)
    annotation[2:6, 4:8] = True  # overlaps 8 of a 24-pixel union: d = 2/3
    assert ged_diversity(outputs) == 0.0
    assert ged_euclidean_diversity(outputs) == 0.0
    assert ged(outputs, annotation) == pytest.approx(2 * (2 / 3))


def test_disjoint_outputs_are_at_distance_one_except_against_themselves():
    outputs = row_masks({0}, {1}, {2, 3})
    # 6 of the 9 ordered pairs are disjoint (d = 1), the 3 pairs i = j are identical (d = 0).
    assert ged_diversity(outputs) == pytest.approx(6 / 9)
    assert ged_diversity(outputs[:2]) == pytest.approx(0.5)


def test_three_outputs_against_two_annotations_by_hand():
    outputs = row_masks({0, 1}, {1, 2}, {0, 1, 2, 3})
    annotations = row_masks({0, 1}, {1})
    # d(S, Y): S1 → (0, 1/2), S2 → (2/3, 1/2), S3 → (1/2, 3/4); mean over the 6 pairs = 35/72.
    cross = Fraction(0) + Fraction(1, 2) + Fraction(2, 3) + Fraction(1, 2) + Fraction(1, 2) + Fraction(3, 4)
    # d(S, S'): S1S2 = 2/3, S1S3 = 1/2, S2S3 = 1/2, each twice among the 9 ordered pairs.
    outputs_spread = 2 * (Fraction(2, 3) + Fraction(1, 2) + Fraction(1, 2)) / 9
    # d(Y, Y'): Y1Y2 = 1/2, twice among the 4 ordered pairs.
    annotations_spread = 2 * Fraction(1, 2) / 4
    expected = 2 * cross / 6 - outputs_spread - annotations_spread
    assert expected == Fraction(19, 54)
    assert ged(outputs, annotations) == pytest.approx(float(expected), abs=1e-12)
    assert ged_diversity(outputs) == pytest.approx(float(outputs_spread), abs=1e-12)


def test_one_annotation_as_a_plain_mask_or_a_stack_of_one():
    rng = np.random.default_rng(2)
    outputs = rng.random((6, 10, 10)) < 0.5
    annotation = rng.random((10, 10)) < 0.5
    assert ged(outputs, annotation) == ged(outputs, annotation[None])


def test_ged_is_never_negative_and_symmetric_in_its_two_samples():
    rng = np.random.default_rng(3)
    for _ in range(20):
        outputs = rng.random((5, 6, 6)) < rng.random()
        annotations = rng.random((3, 6, 6)) < rng.random()
        assert ged(outputs, annotations) >= -1e-12
        assert ged(outputs, annotations) == pytest.approx(ged(annotations, outputs), abs=1e-12)


def test_euclidean_diversity_by_hand_and_against_the_authors_loop():
    first = np.zeros((4, 4), bool)
    first[:2, :2] = True
    second = np.zeros((4, 4), bool)
    second[2:, 2:] = True  # differs from `first` in 8 pixels
    outputs = np.stack([first, second, first])
    # pairs (1,2) and (2,3) are sqrt(8) apart, (1,3) is 0: sqrt(2 · 2·sqrt(8) / 9)
    assert ged_euclidean_diversity(outputs) == pytest.approx(np.sqrt(2 * 2 * np.sqrt(8) / 9))

    rng = np.random.default_rng(4)
    outputs = rng.random((7, 12, 12)) < 0.4
    flat = outputs.reshape(7, -1).astype(float)
    total = sum(np.linalg.norm(flat[i] - flat[j]) for i in range(7) for j in range(i + 1, 7))
    assert ged_euclidean_diversity(outputs) == pytest.approx(np.sqrt(2 * total / 49))


def test_masks_of_different_sizes_are_refused():
    with pytest.raises(ValueError, match="differ in size"):
        pairwise_iou_distance(np.zeros((2, 4, 4), bool), np.zeros((2, 4, 5), bool))


class AnnotatedAt:
    """The `has_mask` / `mask` of a store whose image at position 1 alone has an annotation."""

    has_mask = np.array([False, True, False])

    def mask(self, position):
        assert position == 1
        return np.array([[0, 1, 1, 0]], np.uint8)


def test_ged_shard_scores_each_image_as_the_per_image_functions(tmp_path):
    outputs = np.stack([row_masks({0, 1}, {1, 2}, {1}), row_masks({3}, {3}, set())])  # (2 images, 3, 1, 4)
    write_maps(tmp_path / "masks.h5", [1, 2], ["annotated", "bare"], masks=outputs.astype(np.uint8))
    table = ged_shard(AnnotatedAt(), tmp_path / "masks.h5", tmp_path / "ged.csv")
    assert list(table.columns) == list(GED_COLUMNS) and list(table["id"]) == ["annotated", "bare"]
    assert table["ged"][0] == pytest.approx(ged(outputs[0], row_masks({1, 2})))
    assert np.isnan(table["ged"][1])
    for j in range(2):
        assert table["diversity"][j] == pytest.approx(ged_diversity(outputs[j]))
        assert table["diversity_euclidean"][j] == pytest.approx(ged_euclidean_diversity(outputs[j]))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "ged.csv"), table)
