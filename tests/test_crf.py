"""DenseCRF fusion: it moves a vague or misplaced border onto the image's edge."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from diffseg.data.images import label_at_original_size
from diffseg.data.maps import read_maps, write_maps
from diffseg.evaluation.metrics import segmentation_scores
from diffseg.method.crf import CRFParams, crf_fuse, crf_rounds, crf_shard, seeded_crf_shard, split_crf_section
from diffseg.runtime.errors import BadInputError, ConfigError


def disc(size: int, radius: float) -> np.ndarray:
    rows, cols = np.indices((size, size))
    return np.hypot(rows - (size - 1) / 2, cols - (size - 1) / 2) <= radius


def lesion_image(size: int = 64, radius: float = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A clean scene with one sharp edge: a dark disc on light skin, slight sensor noise."""
    lesion = disc(size, radius)
    colours = np.where(lesion[..., None], np.array([90, 60, 50]), np.array([210, 170, 150]))
    noisy = colours + np.random.default_rng(seed).normal(0, 4, colours.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), lesion


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    return segmentation_scores(pred, truth)["dice"]


def test_crf_snaps_a_blurred_unary_to_the_image_edge():
    image, lesion = lesion_image()
    blurred = ndimage.gaussian_filter(disc(64, 13).astype(np.float32), 3)  # too small and vague
    labels, posterior = crf_fuse(image, blurred, CRFParams())
    assert dice(blurred >= 0.5, lesion) < 0.8
    assert dice(labels, lesion) > 0.98
    assert labels.dtype == bool and posterior.dtype == np.float32 and posterior.shape == (64, 64)
    assert np.array_equal(labels, posterior > 0.5)
    assert 0.0 <= posterior.min() and posterior.max() <= 1.0


def test_clipping_the_unary_lets_the_edge_overturn_a_unanimous_but_shifted_vote():
    image, lesion = lesion_image()
    unanimous = disc(64, 20).astype(np.float32)  # every output drew the border 4 px too far out
    # The vote alone in the unary (no colour model, which would move the border by itself), and a
    # bilateral kernel wider than the 4-px shift (the default 4 px can hardly pull a border that far).
    moved, _ = crf_fuse(image, unanimous, CRFParams(clip=0.05, colour_weight=0, bilateral_sxy=8))
    stuck, _ = crf_fuse(image, unanimous, CRFParams(clip=1e-5, colour_weight=0, bilateral_sxy=8))
    assert dice(moved, lesion) > 0.98
    assert np.array_equal(stuck, unanimous > 0.5)


def test_more_iterations_never_leave_mean_field_further_from_the_edge_here():
    image, lesion = lesion_image(seed=1)
    blurred = ndimage.gaussian_filter(disc(64, 13).astype(np.float32), 3)
    one, _ = crf_fuse(image, blurred, CRFParams(iterations=1))
    five, _ = crf_fuse(image, blurred, CRFParams(iterations=5))
    assert dice(one, lesion) <= dice(five, lesion)


@pytest.mark.parametrize(
    "name, value",
    [("iterations", 0), ("iterations", 2.5), ("bilateral_sxy", 0), ("bilateral_srgb", -1),
     ("gaussian_sxy", 0), ("bilateral_compat", -0.1), ("gaussian_compat", -3), ("clip", 0.0), ("clip", 0.5),
     ("colour_weight", -0.1), ("colour_weight", 1.5)],
)
def test_unusable_parameters_are_refused_by_name(name, value):
    with pytest.raises(ConfigError, match=f"crf.{name}"):
        CRFParams(**{name: value})


def test_image_and_unary_must_match():
    image, _ = lesion_image()
    with pytest.raises(ValueError, match="uint8"):
        crf_fuse(image[:32], np.zeros((64, 64), np.float32), CRFParams())
    with pytest.raises(ValueError, match="uint8"):
        crf_fuse(image.astype(np.float32), np.zeros((64, 64), np.float32), CRFParams())


def test_rounds_of_identical_outputs_equal_one_fusion_and_are_seeded():
    image, lesion = lesion_image()
    outputs = np.stack([disc(64, 13)] * 6)
    single, _ = crf_fuse(image, outputs[0].astype(np.float32), CRFParams())
    rng = np.random.default_rng(0)
    labels, share = crf_rounds(image, outputs, rounds=3, subset=4, rng=rng, params=CRFParams())
    assert np.array_equal(labels, single)
    assert set(np.unique(share)) <= {0.0, 1.0}


def test_rounds_vote_over_random_subsets():
    image, lesion = lesion_image()
    # Four outputs see the lesion, two see nothing. A subset of three holds a lesion majority with
    # probability (C(4,2)·C(2,1) + C(4,3)) / C(6,3) = 0.8; the other rounds fuse to nothing.
    outputs = np.stack([disc(64, 15)] * 4 + [np.zeros((64, 64), bool)] * 2)
    params = CRFParams()
    first = crf_rounds(image, outputs, rounds=20, subset=3, rng=np.random.default_rng(5), params=params)
    again = crf_rounds(image, outputs, rounds=20, subset=3, rng=np.random.default_rng(5), params=params)
    assert np.array_equal(first[1], again[1])
    share = first[1]
    assert share.dtype == np.float32 and np.all((share * 20) == np.round(share * 20))
    assert 0.5 < share[lesion].mean() < 1.0  # the rounds disagreed, and most found the lesion
    assert dice(first[0], lesion) > 0.98
    with pytest.raises(ConfigError, match="crf.subset"):
        crf_rounds(image, outputs, rounds=2, subset=7, rng=np.random.default_rng(0), params=params)
    with pytest.raises(ConfigError, match="crf.rounds"):
        crf_rounds(image, outputs, rounds=0, subset=2, rng=np.random.default_rng(0), params=params)


def test_fused_posterior_upsampled_then_labelled_keeps_a_smooth_border():
    image, lesion = lesion_image(size=32, radius=8)
    _, posterior = crf_fuse(image, ndimage.gaussian_filter(disc(32, 7).astype(np.float32), 2), CRFParams())
    big = disc(256, 64)  # the same disc at 8× the resolution
    from_soft = label_at_original_size(posterior, (256, 256))
    blown_up = np.kron(posterior > 0.5, np.ones((8, 8), bool))
    assert dice(from_soft, big) > dice(blown_up, big) > 0.9


class ImagesAt:
    """The `store.image` of a shard's images at store positions 10, 11, ….."""

    def __init__(self, images):
        self.images = images

    def image(self, position):
        return self.images[position - 10]


def crf_shard_inputs(tmp_path):
    images = [lesion_image(seed=seed)[0] for seed in (0, 1)]
    masks = np.stack([np.stack([disc(64, r) for r in (12, 14, 16, 18)]), np.stack([disc(64, 15)] * 4)])
    index, ids = [10, 11], ["a", "b"]
    write_maps(tmp_path / "masks.h5", index, ids, masks=masks.astype(np.uint8))
    write_maps(tmp_path / "regions.h5", index, ids, mean=masks.mean(axis=1).astype(np.float16))
    return ImagesAt(images), masks, tmp_path / "masks.h5", tmp_path / "regions.h5"


def test_crf_shard_fuses_each_image_as_crf_fuse_does(tmp_path):
    store, masks, masks_path, regions_path = crf_shard_inputs(tmp_path)
    params = CRFParams(iterations=3)
    crf_shard(store, masks_path, regions_path, tmp_path / "fused.h5", params)
    fused = read_maps(tmp_path / "fused.h5", "labels", "posterior")
    assert list(fused["ids"]) == ["a", "b"] and list(fused["index"]) == [10, 11]
    for j, image in enumerate(store.images):
        labels, posterior = crf_fuse(image, masks[j].mean(axis=0, dtype=np.float32), params)
        assert np.array_equal(fused["labels"][j], labels)
        assert np.array_equal(fused["posterior"][j], posterior.astype(np.float16))


def test_crf_shard_rounds_draw_every_image_from_one_seeded_generator(tmp_path):
    store, masks, masks_path, regions_path = crf_shard_inputs(tmp_path)
    crf_shard(store, masks_path, regions_path, tmp_path / "fused.h5", rounds=3, subset=2, seed=7)
    fused = read_maps(tmp_path / "fused.h5", "labels", "posterior")
    rng = np.random.default_rng(7)
    for j, image in enumerate(store.images):
        labels, share = crf_rounds(image, masks[j], 3, 2, rng, CRFParams())
        assert np.array_equal(fused["labels"][j], labels)
        assert np.array_equal(fused["posterior"][j], share.astype(np.float16))


def test_crf_shard_refuses_masks_of_other_images(tmp_path):
    store, masks, _, regions_path = crf_shard_inputs(tmp_path)
    write_maps(tmp_path / "other.h5", [11, 10], ["b", "a"], masks=masks.astype(np.uint8))
    with pytest.raises(BadInputError, match="other images"):
        crf_shard(store, tmp_path / "other.h5", regions_path, tmp_path / "fused.h5", rounds=2, subset=2)


def test_seeded_crf_shard_gives_another_method_s_mask_the_same_fusion(tmp_path):
    """The fair control: Otsu's 0/1 mask through the same DenseCRF, colour model included."""
    store, masks, _, _ = crf_shard_inputs(tmp_path)
    otsu = masks[:, 0].astype(np.uint8)  # one binary mask per image, as segment_otsu writes it
    write_maps(tmp_path / "otsu.h5", [10, 11], ["a", "b"], probability=otsu)
    params = CRFParams(iterations=3, colour_weight=0.5)
    seeded_crf_shard(store, tmp_path / "otsu.h5", "probability", tmp_path / "control.h5", params)
    fused = read_maps(tmp_path / "control.h5", "labels", "posterior")
    assert list(fused["ids"]) == ["a", "b"] and list(fused["index"]) == [10, 11]
    for j, image in enumerate(store.images):
        labels, posterior = crf_fuse(image, otsu[j].astype(np.float32), params)
        assert np.array_equal(fused["labels"][j], labels)
        assert np.array_equal(fused["posterior"][j], posterior.astype(np.float16))
    # The fusion moves the seed's border (else the control would be Otsu's row again).
    assert not np.array_equal(fused["labels"][0], otsu[0])


def test_the_crf_section_splits_into_one_fusion_s_kernels_and_the_shard_s_settings():
    section = {"rounds": 2, "subset": 3, "seed": 7, "darkness_weight": 0.5, "darkness_when_ambiguous": 0.3,
               "bilateral_sxy": 4, "colour_weight": 0.5}
    params, shard = split_crf_section(section)
    assert params == CRFParams(bilateral_sxy=4, colour_weight=0.5)
    assert shard == {"rounds": 2, "subset": 3, "seed": 7, "darkness_weight": 0.5, "darkness_when_ambiguous": 0.3}
    # A section recorded before the darkness seed existed fuses without it, as its run did.
    older = {key: value for key, value in section.items() if not key.startswith("darkness")}
    assert split_crf_section(older)[1] == {"rounds": 2, "subset": 3, "seed": 7, "darkness_weight": 0.0,
                                           "darkness_when_ambiguous": 0.0}
    with pytest.raises(KeyError):
        split_crf_section({"subset": 3, "seed": 7})  # the schema always fills rounds
    with pytest.raises(ConfigError, match="crf.clip"):
        split_crf_section({**section, "clip": 0.7})
