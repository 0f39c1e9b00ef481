"""PNG outputs: per-step masks of a few images and fused masks at each image's original size."""

from __future__ import annotations

import h5py
import numpy as np
from PIL import Image

from diffseg.data.maps import write_maps
from diffseg.data.pngs import enlarge, write_fused_masks, write_step_mask_pngs


def test_enlarge_reaches_min_side_by_a_whole_factor():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    big = enlarge(image, 10)
    assert big.shape == (9, 12)
    np.testing.assert_array_equal(big[::3, ::3], image)


def test_step_mask_pngs_for_the_first_images_only(tmp_path):
    masks = np.zeros((3, 2, 16, 16), np.uint8)
    masks[0, 1, 4:8, 4:8] = 1
    shard = tmp_path / "masks.h5"
    write_maps(shard, [5, 6, 7], ["a", "b", "c"], masks=masks)
    with h5py.File(shard, "a") as h5:  # one vector per file, as threshold_shard writes it
        h5["steps"] = np.array([60, 150])
    written = write_step_mask_pngs(shard, tmp_path / "png", count=2, min_side=64)
    assert sorted(p.name for p in written) == ["a_t060.png", "a_t150.png", "b_t060.png", "b_t150.png"]
    opened = np.asarray(Image.open(tmp_path / "png" / "a_t150.png"))
    assert opened.shape == (64, 64)
    assert set(np.unique(opened)) == {0, 255}
    assert (opened > 0).sum() == 16 * 16  # the 4x4 square at factor 4


def test_fused_masks_have_the_original_size_and_a_smooth_boundary(tmp_path):
    posterior = np.zeros((1, 8, 8), np.float16)
    posterior[0, 2:6, 2:6] = 1
    shard = tmp_path / "crf.h5"
    write_maps(shard, [3], ["ISIC_1"], posterior=posterior)
    written = write_fused_masks(shard, lambda position: (80, 120), tmp_path / "fused")
    assert [p.name for p in written] == ["ISIC_1_segmentation.png"]
    mask = np.asarray(Image.open(written[0]))
    assert mask.shape == (80, 120)
    assert mask[40, 60] == 255 and mask[0, 0] == 0
    # Bilinear upsampling then labelling gives a lesion of about half the image side, not 8x blocks.
    assert 0.2 < (mask > 0).mean() < 0.3
