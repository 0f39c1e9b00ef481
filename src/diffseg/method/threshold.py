"""One binary segmentation per noise-addition step from the difference maps (docs/method.md §2).

Each map D_t is smoothed (optional Gaussian), min–max normalised per image to [0, 1] and
binarised with a fixed threshold (DiffEdit's 0.5) or Otsu's. With polarity `high` the lesion is
where the map is high (|ε_a − ε_b|); with `low` where it is low (the authors' signed luma map).

The absolute difference lights up most at the lesion's *border* (the two semantics disagree most
about where skin turns into lesion), so a thresholded map is often a ring. A morphological closing
bridges small gaps in the ring and hole filling turns it into the lesion it encloses (`closing`,
`fill_holes`; both off reproduces the bare thresholded map).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import h5py
import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from diffseg.data.maps import open_shard
from diffseg.method.components import keep_one_component
from diffseg.runtime.atomic import atomic_path
from diffseg.runtime.logs import log, progress

METHODS = ("fixed", "otsu")
POLARITIES = ("high", "low")
COMPONENTS = ("all", "centre", "largest")


def normalise_map(diff: np.ndarray, smooth_sigma: float = 1.0) -> np.ndarray:
    """`diff` `(H, W)` smoothed by `smooth_sigma` pixels and scaled to [0, 1]; a flat map is all zero."""
    diff = np.asarray(diff, dtype=np.float32)
    if smooth_sigma > 0:
        diff = ndimage.gaussian_filter(diff, smooth_sigma, mode="reflect")
    low, high = float(diff.min()), float(diff.max())
    if not high > low:
        return np.zeros_like(diff)
    return (diff - low) / (high - low)


def binarise(
    normalised: np.ndarray, method: str = "otsu", value: float = 0.5, polarity: str = "high"
) -> np.ndarray:
    """Lesion mask `(H, W)` bool of a map normalised to [0, 1].

    A fixed `value` is a level on the map turned so the lesion is high: with polarity `low` a pixel
    is lesion below 1 − value (the value is measured down from the healthy, high end), so one level
    serves both maps. The authors' level on their luma map, a gray level of about 185 of 255 after
    brightening it ×1.2, lesion below, lies at 185 / 1.2 / 255 ≈ 0.6 of the map's range: `value`
    0.4 here.
    """
    if method not in METHODS:
        raise ValueError(f"threshold.method {method!r} is not one of {METHODS}")
    if polarity not in POLARITIES:
        raise ValueError(f"polarity {polarity!r} is not one of {POLARITIES}")
    normalised = np.asarray(normalised, dtype=np.float32)
    if normalised.max() <= normalised.min():
        return np.zeros(normalised.shape, dtype=bool)  # no contrast: nothing to segment
    lesion_high = normalised if polarity == "high" else 1 - normalised
    level = threshold_otsu(lesion_high) if method == "otsu" else value
    return lesion_high > level


def tidy_mask(mask: np.ndarray, closing: int = 2, fill_holes: bool = True, component: str = "centre") -> np.ndarray:
    """`mask` closed by `closing` iterations of a 3×3 square (bridges gaps up to 2·closing px), holes
    filled, and with `component` "centre" or "largest" only that connected component kept."""
    mask = np.asarray(mask, dtype=bool)
    if closing > 0:
        # Pad so the closing does not erode lesions touching the image border.
        padded = np.pad(mask, closing, mode="edge")
        mask = ndimage.binary_closing(padded, np.ones((3, 3), bool), iterations=closing)[closing:-closing, closing:-closing]
    if fill_holes:
        mask = ndimage.binary_fill_holes(mask)
    if component not in COMPONENTS:
        raise ValueError(f"threshold.component {component!r} is not one of {COMPONENTS}")
    return mask if component == "all" else keep_one_component(mask, component)


@dataclass(frozen=True)
class ThresholdSettings:
    """The schema's `threshold` section: how each difference map becomes a mask.

    - `method`: "otsu" (Otsu's threshold per map) or "fixed" (the level `value`), see `binarise`;
    - `value`: the fixed level on the map normalised to [0, 1] and turned so the lesion is high;
    - `smooth_sigma`: Gaussian smoothing of each map before thresholding, in pixels (0 = none);
    - `closing`: iterations of a 3×3 closing of each mask (0 = none), see `tidy_mask`;
    - `fill_holes`: fill the holes of each mask;
    - `component`: "all" (keep every connected component), "centre" or "largest" (only that one).
    """

    method: str = "otsu"
    value: float = 0.5
    smooth_sigma: float = 1.0
    closing: int = 2
    fill_holes: bool = True
    component: str = "centre"


def step_masks(
    diffs: np.ndarray, settings: ThresholdSettings = ThresholdSettings(), polarity: str = "high"
) -> np.ndarray:
    """Masks `(S, H, W)` bool, one per map of `diffs` `(S, H, W)`; `polarity` as in `binarise`."""
    return np.stack([_step_mask(d, settings, polarity) for d in diffs])


def _step_mask(diff: np.ndarray, settings: ThresholdSettings, polarity: str) -> np.ndarray:
    normalised = normalise_map(diff, settings.smooth_sigma)
    mask = binarise(normalised, settings.method, settings.value, polarity)
    return tidy_mask(mask, settings.closing, settings.fill_holes, settings.component)


def threshold_shard(
    diffs_path: str | os.PathLike,
    masks_path: str | os.PathLike,
    settings: ThresholdSettings = ThresholdSettings(),
    polarity: str = "high",
) -> None:
    """Per-step masks of every image of a noise-difference shard, image by image (layout: docs).

    `polarity` "high": the lesion is where the map is high (|ε_a − ε_b|); "low": where it is low.
    """
    with open_shard(diffs_path, ("index", "ids", "steps", "diff"), "noise-difference shard") as source:
        diffs = source["diff"]
        with atomic_path(masks_path) as tmp, h5py.File(tmp, "w") as out:
            for name in ("index", "ids", "steps"):
                source.copy(source[name], out, name)
            masks = out.create_dataset(
                "masks", diffs.shape, np.uint8, chunks=(1, *diffs.shape[1:]), maxshape=(None, *diffs.shape[1:]),
                compression="gzip", shuffle=True,
            )  # fmt: skip
            out.attrs.update(
                method=settings.method, value=settings.value, smooth_sigma=settings.smooth_sigma,
                polarity=polarity, closing=settings.closing, fill_holes=settings.fill_holes,
                component=settings.component,
            )  # fmt: skip
            for j in progress(range(len(diffs)), desc="threshold"):
                masks[j] = step_masks(diffs[j], settings, polarity)
    log.info("%s: %d images, method %s, polarity %s", masks_path, len(diffs), settings.method, polarity)
