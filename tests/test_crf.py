"""DenseCRF fusion: it moves a vague or misplaced border onto the image's edge."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from diffseg.crf import CRFParams, crf_fuse, crf_rounds
from diffseg.errors import ConfigError
from diffseg.evaluate import label_at_original_size
from diffseg.metrics import segmentation_scores


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
    moved, _ = crf_fuse(image, unanimous, CRFParams(clip=0.05))
    stuck, _ = crf_fuse(image, unanimous, CRFParams(clip=1e-5))
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
     ("gaussian_sxy", 0), ("bilateral_compat", -0.1), ("gaussian_compat", -3), ("clip", 0.0), ("clip", 0.5)],
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
