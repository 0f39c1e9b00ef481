"""Consistent / ambiguous regions, mean and variance maps of the per-step masks."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from diffseg.data.images import read_rgb
from diffseg.method.regions import (
    ambiguous_region,
    consistent_region,
    majority_vote,
    mean_mask,
    region_overlay,
    regions_shard,
    variance_map,
    write_region_overlays,
)
from diffseg.runtime.errors import BadInputError


def three_nested_squares() -> np.ndarray:
    """Outputs (3, 8, 8): squares of side 2, 4 and 6 around the same centre."""
    masks = np.zeros((3, 8, 8), bool)
    masks[0, 3:5, 3:5] = True
    masks[1, 2:6, 2:6] = True
    masks[2, 1:7, 1:7] = True
    return masks


def test_consistent_is_the_intersection_and_ambiguous_the_rest_of_the_union():
    masks = three_nested_squares()
    assert np.array_equal(consistent_region(masks), masks[0])
    assert np.array_equal(ambiguous_region(masks), masks[2] & ~masks[0])
    assert ambiguous_region(masks).sum() == 36 - 4


def test_mean_mask_is_the_share_of_outputs_marking_lesion():
    masks = three_nested_squares()
    mean = mean_mask(masks)
    assert mean.dtype == np.float32
    assert mean[3, 3] == 1.0 and mean[2, 2] == pytest.approx(2 / 3) and mean[1, 1] == pytest.approx(1 / 3)
    assert mean[0, 0] == 0.0


def test_variance_is_p_times_one_minus_p_and_zero_where_outputs_agree():
    masks = three_nested_squares()
    variance = variance_map(masks)
    p = mean_mask(masks)
    np.testing.assert_allclose(variance, p * (1 - p), atol=1e-7)
    assert variance[3, 3] == 0.0 and variance[0, 0] == 0.0
    assert variance[1, 1] == pytest.approx(2 / 9)
    assert np.array_equal(variance > 0, ambiguous_region(masks))


def test_majority_vote_counts_ties_as_lesion():
    masks = np.zeros((4, 1, 3), bool)
    masks[:3, 0, 0] = True  # 3 of 4
    masks[:2, 0, 1] = True  # 2 of 4: a tie
    masks[:1, 0, 2] = True  # 1 of 4
    assert majority_vote(masks).tolist() == [[True, True, False]]
    assert majority_vote(masks, level=0.75).tolist() == [[True, False, False]]


def write_step_masks(path, masks: np.ndarray) -> None:
    with h5py.File(path, "w") as h5:
        h5["index"] = np.arange(10, 10 + len(masks), dtype=np.int64)
        h5.create_dataset("ids", data=[f"img{i}" for i in range(len(masks))], dtype=h5py.string_dtype())
        h5["steps"] = np.array([60, 90, 120], dtype=np.int64)
        h5["masks"] = masks.astype(np.uint8)


def test_regions_shard_writes_every_map_per_image(tmp_path):
    first = three_nested_squares()
    second = np.zeros_like(first)
    second[1, 0, 0] = True
    write_step_masks(tmp_path / "masks.h5", np.stack([first, second]))

    regions_shard(tmp_path / "masks.h5", tmp_path / "out" / "regions.h5")

    with h5py.File(tmp_path / "out" / "regions.h5", "r") as h5:
        assert h5["index"][()].tolist() == [10, 11]
        assert h5["ids"].asstr()[()].tolist() == ["img0", "img1"]
        assert h5["steps"][()].tolist() == [60, 90, 120]
        assert h5["mean"].dtype == np.float16 and h5["mean"].chunks == (1, 8, 8)
        assert h5["consistent"].dtype == np.uint8 and h5["ambiguous"].dtype == np.uint8
        np.testing.assert_allclose(h5["mean"][0], mean_mask(first), atol=1e-3)
        np.testing.assert_allclose(h5["variance"][0], variance_map(first), atol=1e-3)
        assert np.array_equal(h5["consistent"][0], consistent_region(first))
        assert np.array_equal(h5["ambiguous"][0], ambiguous_region(first))
        assert h5["consistent"][1].sum() == 0 and h5["ambiguous"][1].sum() == 1
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["regions.h5"]


def test_regions_shard_names_the_file_that_lacks_masks(tmp_path):
    with h5py.File(tmp_path / "broken.h5", "w") as h5:
        h5["index"] = np.arange(2)
    with pytest.raises(BadInputError, match="broken.h5.*masks"):
        regions_shard(tmp_path / "broken.h5", tmp_path / "regions.h5")
    assert not (tmp_path / "regions.h5").exists()


def test_overlay_tints_consistent_and_ambiguous_pixels_and_leaves_the_rest():
    image = np.full((8, 8, 3), 100, np.uint8)
    masks = three_nested_squares()
    overlay = region_overlay(image, consistent_region(masks), ambiguous_region(masks), opacity=0.5)
    assert overlay[3, 3].tolist() == [165, 65, 65]  # halfway to red
    assert overlay[1, 1].tolist() == [178, 160, 50]  # halfway to yellow
    assert overlay[0, 0].tolist() == [100, 100, 100]


def test_region_overlays_are_written_for_the_first_images_enlarged(tmp_path):
    first = three_nested_squares()
    write_step_masks(tmp_path / "masks.h5", np.stack([first, first, first]))
    regions_shard(tmp_path / "masks.h5", tmp_path / "regions.h5")
    seen = []

    def image_of(position: int) -> np.ndarray:
        seen.append(position)
        return np.full((8, 8, 3), 100, np.uint8)

    out_dir = tmp_path / "overlays"
    written = write_region_overlays(tmp_path / "regions.h5", image_of, out_dir, count=2, min_side=20)
    assert [p.name for p in written] == ["img0.png", "img1.png"] and seen == [10, 11]
    png = read_rgb(written[0])
    assert png.shape == (24, 24, 3)  # 8 px × 3, the smallest whole factor reaching 20
    assert png[3 * 3, 3 * 3].tolist() == [165, 65, 65] and png[0, 0].tolist() == [100, 100, 100]
