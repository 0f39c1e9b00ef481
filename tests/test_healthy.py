"""Healthy-skin examples: sources, and border crops that stay off a central lesion."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from diffseg.data.healthy import (
    border_crop_boxes,
    border_crop_lesion_fraction,
    border_crops,
    healthy_training_set,
    own_skin_per_lesion,
)
from diffseg.data.store import ImageStore, write_store
from diffseg.data.synthetic import write_synthetic_cohort
from diffseg.runtime.errors import BadInputError, ConfigError

SIZE = 16


def test_four_boxes_are_the_corners_and_eight_add_the_edge_midpoints():
    assert border_crop_boxes(40, 40, 0.25, 4) == [
        (0, 0, 10, 10),
        (0, 30, 10, 10),
        (30, 30, 10, 10),
        (30, 0, 10, 10),
    ]
    corners_and_middles = {(top, left) for top, left, _, _ in border_crop_boxes(40, 40, 0.25, 8)}
    assert corners_and_middles == {(0, 0), (0, 15), (0, 30), (15, 30), (30, 30), (30, 15), (30, 0), (15, 0)}
    assert border_crop_boxes(40, 80, 0.25, 1) == [(0, 0, 10, 20)]  # a share of each side


def test_crops_of_an_image_with_a_central_lesion_hold_skin_only():
    image = np.full((1, 32, 32, 3), 200, dtype=np.uint8)
    image[0, 10:22, 10:22] = 20  # the dark lesion
    crops = border_crops(image, 0.25, 8)
    assert crops.shape == (8, 32, 32, 3)
    assert crops.min() > 150


def test_mirrored_crops_keep_the_lesion_images_scale():
    # A skin texture of 2-px stripes: enlarged 4×, a 8-px crop shows 8-px stripes; mirrored, 2-px ones.
    image = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    image[0, :, ::4] = image[0, :, 1::4] = 200
    enlarged = border_crops(image, 0.25, 4)
    mirrored = border_crops(image, 0.25, 4, crop_scale="mirror")
    assert mirrored.shape == enlarged.shape == (4, 32, 32, 3)
    def stripe_width(crop):
        row = crop[16, :, 0] > 100
        return np.diff(np.flatnonzero(np.diff(row.astype(int)))).min()
    assert stripe_width(mirrored[0]) == 2 and stripe_width(enlarged[0]) >= 7
    # The crop itself sits unchanged in the middle of the frame, its mirror images around it.
    np.testing.assert_array_equal(mirrored[0, 12:20, 12:20], image[0, 0:8, 0:8])
    np.testing.assert_array_equal(mirrored[0, 11], mirrored[0, 12])  # symmetric: the edge row repeated
    assert set(np.unique(mirrored)) <= set(np.unique(image))  # no new colours, as no resampling
    with pytest.raises(ConfigError, match="crop_scale 'zoom'"):
        border_crops(image, 0.25, 4, crop_scale="zoom")


def test_each_image_owns_the_consecutive_crops_cut_from_it():
    images = np.stack([np.full((16, 16, 3), value, dtype=np.uint8) for value in (10, 200, 90)])
    per_image = own_skin_per_lesion("border_crops", 4)
    crops = border_crops(images, 0.25, per_image)
    for i, value in enumerate((10, 200, 90)):
        assert (crops[i * per_image : (i + 1) * per_image] == value).all()
    assert own_skin_per_lesion("synthetic", 4) == own_skin_per_lesion("folder", 4) == 0


def test_lesion_fraction_of_the_crops_is_measured_with_the_masks():
    central = np.zeros((40, 60), dtype=bool)
    central[15:25, 20:40] = True
    corner = np.zeros((40, 60), dtype=bool)
    corner[:10, :15] = True  # exactly the top-left box
    shares = border_crop_lesion_fraction([central, corner], 0.25, 4)
    np.testing.assert_array_equal(shares, [[0, 0, 0, 0], [1, 0, 0, 0]])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("healthy")
    cohort = write_synthetic_cohort(
        root / "cohort", n_lesion=4, n_healthy=4, size=32, seed=0, test_fraction=0.25
    )
    write_store(root / "store.h5", cohort, SIZE, "synthetic")
    with ImageStore(root / "store.h5") as opened:
        yield opened


def test_synthetic_source_uses_the_store_healthy_training_images(store):
    wanted = np.flatnonzero((store.split == "train") & (store.label == 0))
    images = healthy_training_set(store, SIZE, source="synthetic")
    np.testing.assert_array_equal(images, store.images(wanted))


def test_border_crops_source_crops_the_training_lesion_images(store):
    lesions = np.flatnonzero((store.split == "train") & (store.label == 1))
    images = healthy_training_set(store, SIZE, source="border_crops", crop_fraction=0.25, crops_per_image=2)
    assert images.shape == (2 * len(lesions), SIZE, SIZE, 3)


def test_folder_source_resizes_every_image(tmp_path, store):
    for name, side in (("a.png", 40), ("b.jpg", 70)):
        Image.fromarray(np.full((side, side + 5, 3), 180, dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    images = healthy_training_set(store, SIZE, source="folder", folder=str(tmp_path))
    assert images.shape == (2, SIZE, SIZE, 3) and abs(int(images.mean()) - 180) <= 2


def test_folder_source_without_images_names_the_folder(tmp_path, store):
    with pytest.raises(BadInputError, match=str(tmp_path)):
        healthy_training_set(store, SIZE, source="folder", folder=str(tmp_path))
    with pytest.raises(ConfigError, match="healthy.folder"):
        healthy_training_set(store, SIZE, source="folder", folder=None)
