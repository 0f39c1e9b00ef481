"""The training-free baseline: Otsu's threshold on a smoothed darkness map.

A pigmented lesion is darker than the skin around it, so a global threshold on brightness already
finds most lesions. The steps:

1. darkness = 1 − brightness on [0, 1], brightness a channel mix (`channels`): luminance (ITU-R
   BT.601 weights 0.299 R + 0.587 G + 0.114 B, the default), the mean of R, G, B, or one channel;
2. Gaussian smoothing with σ = `smooth_sigma` × the image's longer side, which removes hairs, skin
   texture and JPEG noise before the threshold sees them;
3. Otsu's threshold on the smoothed darkness; lesion is the darker side (darkness above it);
4. holes filled (a lesion's lighter regression areas are still lesion);
5. one connected component kept: the one nearest the image centre (dermoscopy centres the lesion,
   while the dark corners of the scope's field of view touch the border) or the largest.

It needs no training and no GPU, which makes it the bar a learned method has to clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from diffseg.method.components import keep_one_component
from diffseg.runtime.errors import ConfigError

CHANNEL_WEIGHTS = {
    "luminance": np.array([0.299, 0.587, 0.114]),
    "mean": np.full(3, 1 / 3),
    "red": np.array([1.0, 0.0, 0.0]),
    "green": np.array([0.0, 1.0, 0.0]),
    "blue": np.array([0.0, 0.0, 1.0]),
}


@dataclass(frozen=True)
class OtsuParams:
    """The schema's `otsu` section."""

    smooth_sigma: float = 0.02
    component: Literal["centre", "largest"] = "centre"
    fill_holes: bool = True
    channels: str = "luminance"

    def __post_init__(self):
        if not self.smooth_sigma >= 0:
            raise ConfigError(f"otsu.smooth_sigma must be ≥ 0, got {self.smooth_sigma!r}")
        if self.channels not in CHANNEL_WEIGHTS:
            raise ConfigError(f"otsu.channels must be one of {', '.join(CHANNEL_WEIGHTS)}, got {self.channels!r}")
        if self.component not in ("centre", "largest"):
            raise ConfigError(f"otsu.component must be 'centre' or 'largest', got {self.component!r}")


def darkness_map(image: np.ndarray, smooth_sigma: float, channels: str = "luminance") -> np.ndarray:
    """1 − brightness (`channels` mix) of a uint8 RGB `(H, W, 3)` image, smoothed: `(H, W)` in [0, 1]."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    darkness = 1.0 - (image.astype(np.float64) / 255.0) @ CHANNEL_WEIGHTS[channels]
    sigma = smooth_sigma * max(image.shape[:2])
    return ndimage.gaussian_filter(darkness, sigma, mode="nearest") if sigma > 0 else darkness


def otsu_segment(image: np.ndarray, params: OtsuParams) -> np.ndarray:
    """Lesion mask `(H, W)` bool of a uint8 RGB image `(H, W, 3)`; empty for a uniform image."""
    darkness = darkness_map(image, params.smooth_sigma, params.channels)
    if np.ptp(darkness) == 0:
        return np.zeros(darkness.shape, dtype=bool)
    mask = darkness > threshold_otsu(darkness)
    if params.fill_holes:
        mask = ndimage.binary_fill_holes(mask)
    return keep_one_component(mask, params.component)
