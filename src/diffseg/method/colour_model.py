"""A colour model of each image, seeded by the diffusion vote, mixed into DenseCRF's unary.

For a lesion that fills much of the frame the difference maps mark only part of it (docs/benchmark.md,
Dice by lesion size), and DenseCRF cannot recover the rest: its bilateral kernel spreads a label
only to pixels that are both near (`crf.bilateral_sxy`) and alike in colour. A *global* colour model
spreads it to every pixel of the lesion's colour: one Gaussian in CIELAB fitted to the pixels the
vote calls lesion (mean mask ≥ 0.5), one to the pixels no step marked (mean mask 0), and each
pixel's posterior under the two with equal priors. This is GrabCut's appearance model (Rother,
Kolmogorov & Blake 2004) with one component per class, seeded by the diffusion masks instead of a
user's box. DenseCRF's lesion probability becomes w · p_colour + (1 − w) · p_vote
(docs/method.md §5; config `crf.colour_weight`, 0 = off).

No mask is used: the seeds are the method's own outputs, so the model stays label-free.
"""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2lab

# A seed needs a few pixels for a 3-D mean and covariance; below this the vote is used alone.
MIN_SEED_PIXELS = 5
# Added to each covariance's diagonal (CIELAB units², L* spans 0…100): keeps a seed of nearly one
# colour (a flat synthetic disc, a saturated lesion) from giving a singular, overconfident Gaussian.
COVARIANCE_RIDGE = 1.0


def _gaussian_log_likelihood(pixels: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Log-density (up to a shared constant) of every row of `pixels` under the Gaussian of `seed`'s rows."""
    sample = pixels[seed]
    mean = sample.mean(axis=0)
    covariance = np.cov(sample, rowvar=False) + COVARIANCE_RIDGE * np.eye(pixels.shape[1])
    centred = pixels - mean
    mahalanobis = np.einsum("ij,jk,ik->i", centred, np.linalg.inv(covariance), centred)
    return -0.5 * (mahalanobis + np.linalg.slogdet(covariance)[1])


def seeded_colour_posterior(image: np.ndarray, vote: np.ndarray) -> np.ndarray | None:
    """Lesion posterior `(H, W)` float32 of `image` `(H, W, 3)` uint8's colours under the two Gaussians
    seeded by `vote` `(H, W)` (the mean mask); None when either seed has under MIN_SEED_PIXELS pixels."""
    vote = np.asarray(vote, dtype=np.float32)
    lesion_seed, skin_seed = (vote >= 0.5).ravel(), (vote == 0).ravel()
    if lesion_seed.sum() < MIN_SEED_PIXELS or skin_seed.sum() < MIN_SEED_PIXELS:
        return None
    pixels = rgb2lab(np.asarray(image)).reshape(-1, 3)
    log_odds = _gaussian_log_likelihood(pixels, lesion_seed) - _gaussian_log_likelihood(pixels, skin_seed)
    posterior = 1 / (1 + np.exp(-np.clip(log_odds, -50, 50)))  # clipped: exp overflows beyond ±700
    return posterior.reshape(vote.shape).astype(np.float32)


def mix_colour_model(image: np.ndarray, vote: np.ndarray, weight: float) -> np.ndarray:
    """`weight` · seeded colour posterior + (1 − `weight`) · `vote`, `(H, W)` float32; the vote unchanged
    when `weight` is 0 or a seed is too small (an empty vote stays empty: there is nothing to seed)."""
    vote = np.asarray(vote, dtype=np.float32)
    if weight == 0:
        return vote
    colour = seeded_colour_posterior(image, vote)
    if colour is None:
        return vote
    return (weight * colour + (1 - weight) * vote).astype(np.float32)
