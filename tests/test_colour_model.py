"""The colour model seeded by the vote completes a lesion the maps marked only in part."""

from __future__ import annotations

import numpy as np
import pytest
from test_crf import dice, disc, lesion_image

from diffseg.method.colour_model import MIN_SEED_PIXELS, mix_colour_model, seeded_colour_posterior
from diffseg.method.crf import CRFParams, crf_fuse


def partial_vote(size: int = 64, radius: float = 8) -> np.ndarray:
    """What the maps give for a lesion filling much of the frame: a unanimous patch at its centre,
    a ring where some steps agree, and nothing marked beyond it."""
    return disc(size, radius).astype(np.float32) + 0.25 * (disc(size, radius + 4) & ~disc(size, radius))


def test_a_partial_vote_seeds_a_colour_model_that_covers_the_whole_lesion():
    image, lesion = lesion_image(radius=26)
    posterior = seeded_colour_posterior(image, partial_vote())
    assert posterior.dtype == np.float32 and posterior.shape == lesion.shape
    assert dice(posterior > 0.5, lesion) > 0.98


def test_densecrf_with_the_colour_model_completes_a_large_lesion_that_the_vote_alone_leaves_small():
    image, lesion = lesion_image(radius=26)
    vote = partial_vote()
    alone, _ = crf_fuse(image, vote, CRFParams(bilateral_sxy=4))
    # Above 0.5 the colour model outvotes a pixel that no step marked (at 0.5 it would be a tie).
    mixed, _ = crf_fuse(image, vote, CRFParams(bilateral_sxy=4, colour_weight=0.7))
    assert dice(alone, lesion) < 0.5  # the local kernels cannot carry the label 18 px out
    assert dice(mixed, lesion) > 0.95


def test_the_mixture_is_the_weighted_sum_and_weight_zero_is_the_vote():
    image, _ = lesion_image(radius=20)
    vote = partial_vote()
    colour = seeded_colour_posterior(image, vote)
    np.testing.assert_allclose(mix_colour_model(image, vote, 0.3), 0.3 * colour + 0.7 * vote, atol=1e-6)
    np.testing.assert_array_equal(mix_colour_model(image, vote, 1.0), colour)
    assert mix_colour_model(image, vote, 0.0) is not None
    np.testing.assert_array_equal(mix_colour_model(image, vote, 0.0), vote)


@pytest.mark.parametrize(
    "vote",
    [np.zeros((64, 64), np.float32),  # no step marked anything: nothing to seed a lesion with
     np.ones((64, 64), np.float32),  # every step marked everything: no skin to learn
     disc(64, 0.9).astype(np.float32)],  # a lesion seed of fewer than MIN_SEED_PIXELS pixels
)
def test_a_seed_too_small_for_a_gaussian_leaves_the_vote_alone(vote):
    image, _ = lesion_image()
    assert min((vote >= 0.5).sum(), (vote == 0).sum()) < MIN_SEED_PIXELS
    assert seeded_colour_posterior(image, vote) is None
    np.testing.assert_array_equal(mix_colour_model(image, vote, 0.5), vote)


def test_a_seed_of_one_flat_colour_gives_a_finite_posterior():
    flat = np.full((64, 64, 3), 200, np.uint8)
    flat[disc(64, 10)] = (80, 50, 40)  # two colours, no noise: singular covariances without the ridge
    posterior = seeded_colour_posterior(flat, disc(64, 10).astype(np.float32))
    assert np.isfinite(posterior).all()
    assert dice(posterior > 0.5, disc(64, 10)) == 1.0
