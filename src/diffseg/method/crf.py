"""DenseCRF fusion of the per-step masks with the image (docs/method.md §5, Krähenbühl & Koltun 2011).

    E(x) = Σ_i ψ_u(x_i) + Σ_{i<j} ψ_p(x_i, x_j)

The unary is −log p of a two-class (healthy, lesion) probability built from the per-step masks
(their mean, optionally mixed with a colour model of the image that they seed: `crf.colour_weight`);
the pairwise term is a Gaussian smoothness kernel on position plus a bilateral appearance kernel on
position and RGB, both with Potts compatibility. Mean-field inference gives a posterior per pixel
and its MAP labelling is the fused segmentation.

Scoring and annotation map the fused result back to each image's original size by upsampling the
soft posterior bilinearly and labelling it there (`diffseg.data.images.label_at_original_size`), not
by a nearest-neighbour blow-up of the model-resolution labelling.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pydensecrf.densecrf as dcrf
from pydensecrf.utils import unary_from_softmax

from diffseg.data.maps import read_maps, write_maps
from diffseg.method.colour_model import mix_colour_model
from diffseg.method.darkness_seed import DarknessSeed
from diffseg.runtime.errors import BadInputError, ConfigError
from diffseg.runtime.logs import progress


@dataclass(frozen=True)
class CRFParams:
    """Kernel parameters of the authors' code (docs/method.md §7) and the unary's clipping.

    `colour_weight` w mixes a colour model of the image, seeded by the vote, into the lesion
    probability (`diffseg.method.colour_model`); 0 leaves the vote alone.

    `clip` bounds the lesion probability to [clip, 1 − clip] before −log. 0.05 caps a unanimous
    vote's unary margin at log(0.95 / 0.05) ≈ 2.9, well below the bilateral compatibility 10, so a
    clear colour edge can move a border that every step placed a few pixels off (the per-step masks
    come from blurry low-resolution noise differences). pydensecrf's default 1e-5 (the authors'
    choice) gives a margin of 11.5 that the pairwise terms can hardly overturn, which leaves the
    vote almost unchanged; tests/test_crf.py shows the difference on a shifted unary.
    """

    iterations: int = 5
    bilateral_sxy: float = 4.0
    bilateral_srgb: float = 13.0
    bilateral_compat: float = 10.0
    gaussian_sxy: float = 3.0
    gaussian_compat: float = 3.0
    clip: float = 0.05
    colour_weight: float = 0.5

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the first parameter that cannot work."""
        positive = {
            "iterations": self.iterations,
            "bilateral_sxy": self.bilateral_sxy,
            "bilateral_srgb": self.bilateral_srgb,
            "gaussian_sxy": self.gaussian_sxy,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"crf.{name} must be positive, got {value!r}")
        if int(self.iterations) != self.iterations:
            raise ConfigError(f"crf.iterations must be a whole number, got {self.iterations!r}")
        for name in ("bilateral_compat", "gaussian_compat"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"crf.{name} must be ≥ 0, got {getattr(self, name)!r}")
        if not 0 < self.clip < 0.5:
            raise ConfigError(f"crf.clip must lie in (0, 0.5), got {self.clip!r}")
        if not 0 <= self.colour_weight <= 1:
            raise ConfigError(f"crf.colour_weight must lie in [0, 1], got {self.colour_weight!r}")


# The crf section's settings that say how a shard is fused (rounds of step subsets, the darkness
# seed) rather than the kernels of one fusion (CRFParams). A section recorded before the darkness seed
# existed lacks its two keys: off, as that run was made.
SHARD_SETTINGS = ("rounds", "subset", "seed")
LATER_SHARD_SETTINGS = {"darkness_weight": 0.0, "darkness_when_ambiguous": 0.0}


def split_crf_section(section) -> tuple[CRFParams, dict]:
    """The config's `crf` section as the kernels of one fusion (CRFParams, validated) and the shard's
    own settings (`SHARD_SETTINGS` and `LATER_SHARD_SETTINGS`, by name)."""
    settings = dict(section)
    shard = {key: settings.pop(key) for key in SHARD_SETTINGS}
    shard |= {key: settings.pop(key, default) for key, default in LATER_SHARD_SETTINGS.items()}
    return CRFParams(**settings), shard


def crf_fuse(image: np.ndarray, prob: np.ndarray, params: CRFParams) -> tuple[np.ndarray, np.ndarray]:
    """Fuse a lesion probability `prob` `(H, W)` with `image` `(H, W, 3)` uint8 by DenseCRF.

    Returns the MAP labelling `(H, W)` bool (lesion where its posterior beats healthy skin's) and
    the lesion posterior `(H, W)` float32 in [0, 1].
    """
    image = np.asarray(image)
    prob = np.asarray(prob, dtype=np.float32)
    height, width = prob.shape
    if image.shape != (height, width, 3) or image.dtype != np.uint8:
        raise ValueError(f"image should be ({height}, {width}, 3) uint8, got {image.shape} {image.dtype}")
    prob = mix_colour_model(image, prob, params.colour_weight)
    lesion = np.clip(prob, params.clip, 1 - params.clip)
    softmax = np.stack([1 - lesion, lesion])  # (2, H, W): class 0 healthy, 1 lesion
    crf = dcrf.DenseCRF2D(width, height, 2)
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(softmax, clip=None)))
    crf.addPairwiseGaussian(sxy=params.gaussian_sxy, compat=params.gaussian_compat)
    crf.addPairwiseBilateral(
        sxy=params.bilateral_sxy,
        srgb=params.bilateral_srgb,
        rgbim=np.ascontiguousarray(image),
        compat=params.bilateral_compat,
    )
    posterior = np.asarray(crf.inference(int(params.iterations)), dtype=np.float32).reshape(2, height, width)
    return posterior[1] > posterior[0], posterior[1]


def crf_rounds(
    image: np.ndarray,
    masks: np.ndarray,
    rounds: int,
    subset: int,
    rng: np.random.Generator,
    params: CRFParams,
) -> tuple[np.ndarray, np.ndarray]:
    """The authors' variant: K = `rounds` CRFs, each on the mean of H = `subset` random outputs.

    `masks` `(S, H, W)` bool are the per-step outputs; each round draws `subset` of them without
    replacement. Returns the lesion share of the K MAP labellings labelled at ≥ 0.5 `(H, W)` bool,
    and that share `(H, W)` float32, the soft map to upsample to the original size.
    """
    masks = np.asarray(masks, dtype=bool)
    if rounds < 1:
        raise ConfigError(f"crf.rounds must be ≥ 1 for the rounds variant, got {rounds}")
    if not 1 <= subset <= len(masks):
        raise ConfigError(f"crf.subset must lie in 1..{len(masks)} (the number of outputs), got {subset}")
    labellings = np.zeros(masks.shape[1:], dtype=np.float32)
    for _ in range(rounds):
        chosen = rng.choice(len(masks), size=subset, replace=False)
        labels, _ = crf_fuse(image, masks[chosen].mean(axis=0, dtype=np.float32), params)
        labellings += labels
    share = labellings / rounds
    return share >= 0.5, share


def crf_shard(
    store,
    masks_path: str | os.PathLike,
    regions_path: str | os.PathLike,
    fused_path: str | os.PathLike,
    params: CRFParams | None = None,
    rounds: int = 0,
    subset: int = 5,
    seed: int = 0,
    darkness: DarknessSeed | None = None,
) -> None:
    """DenseCRF fusion of every image of a shard with its image from `store` (`store.image(position)`).

    `rounds` 0 fuses the `mean` map of the regions file (`crf_fuse`), mixed with the image's darkness
    mask where `darkness` says so (`diffseg.method.darkness_seed`); K > 0 runs `crf_rounds` on the
    per-step `masks` of the masks file, drawing every image's subsets from one generator seeded by
    `seed`. Writes `labels (n, H, W) uint8` and `posterior (n, H, W) float16` to `fused_path`.
    """
    params = params or CRFParams()
    darkness = darkness or DarknessSeed()
    if rounds and darkness.active:
        raise ConfigError("crf.darkness_weight mixes into the vote's seed: set crf.rounds to 0 to use it")
    regions = read_maps(regions_path, "mean", *(["ambiguous"] if darkness.active else []))
    if not rounds:

        def fuse_vote(j, image, vote):
            if darkness.active:
                vote = darkness.seed(image, vote, regions["ambiguous"][j])
            return crf_fuse(image, vote, params)

        _fuse_shard(store, regions, "mean", fused_path, fuse_vote)
        return
    masks = read_maps(masks_path, "masks")
    if not np.array_equal(masks["index"], regions["index"]):
        raise BadInputError(masks_path, f"holds other images than {regions_path}; delete both to regenerate")
    rng = np.random.default_rng(seed)

    def fuse_rounds(j, image, vote):
        return crf_rounds(image, masks["masks"][j].astype(bool), rounds, subset, rng, params)

    _fuse_shard(store, regions, "mean", fused_path, fuse_rounds)


def seeded_crf_shard(
    store, seed_path: str | os.PathLike, seed_map: str, fused_path: str | os.PathLike, params: CRFParams
) -> None:
    """DenseCRF fusion of every image of a shard seeded by another method's map (`seed_map` of the maps
    file `seed_path`, e.g. Otsu's mask as `probability`) instead of the diffusion vote: the same unary
    (colour model included), kernels and inference. This makes the fair training-free control, which
    gets every post-processing step DiffSeg gets. Writes what `crf_shard` writes."""
    seeds = read_maps(seed_path, seed_map)
    _fuse_shard(store, seeds, seed_map, fused_path, lambda j, image, seed: crf_fuse(image, seed, params))


def _fuse_shard(store, seeds: dict, seed_map: str, fused_path, fuse) -> None:
    """`fuse(j, image, seed)` → (labels, posterior) for the j-th image of `seeds` (maps of one shard),
    written to `fused_path` as `labels (n, H, W) uint8` and `posterior (n, H, W) float16`."""
    labels, posteriors = [], []
    for j, position in enumerate(progress(seeds["index"], desc="DenseCRF")):
        label, posterior = fuse(j, store.image(position), seeds[seed_map][j].astype(np.float32))
        labels.append(label)
        posteriors.append(posterior)
    shape = seeds[seed_map].shape  # also the shape of an empty shard's maps
    write_maps(
        fused_path,
        seeds["index"],
        seeds["ids"],
        labels=np.asarray(labels, dtype=np.uint8).reshape(shape),
        posterior=np.asarray(posteriors, dtype=np.float16).reshape(shape),
    )
