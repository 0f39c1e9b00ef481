"""Zoomed-in views of the training lesion images for the DDPM's lesion class (schema `lesion_views`).

Without them the two semantics differ in *layout* as much as in content: the lesion class sees whole
frames (a dark blob in the middle of skin), the healthy class sees border crops enlarged
1 / `healthy.crop_fraction` times (skin filling the frame). A lesion that fills the frame then looks
to the healthy class like uniformly coloured zoomed-in skin, and the difference map stays flat over
it: on the ISIC 2017 development split the map ranks lesion above skin pixels no better than chance
(AUC 0.55) for lesions covering half the frame or more, against 0.95 below 10 % (docs/benchmark.md).

A centre crop of a dermoscopy image shows the lesion, because the photographer centres it. Enlarged
by the same kinds of factor as the healthy crops, such views teach the lesion class what a frame
full of lesion looks like, so the semantics differ in what the skin shows rather than in how the
frame is laid out. No mask is used: the crop is the centre box whatever the lesion's extent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from diffseg.data.images import resize_rgb
from diffseg.runtime.errors import ConfigError
from diffseg.runtime.logs import log


def centre_box(height: int, width: int, zoom: float) -> tuple[int, int, int, int]:
    """`(top, left, box_height, box_width)` of the centred box `1 / zoom` of each side."""
    if not zoom >= 1:
        raise ConfigError(f"lesion_views.zooms must all be ≥ 1, got {zoom}")
    box_h, box_w = max(1, round(height / zoom)), max(1, round(width / zoom))
    return (height - box_h) // 2, (width - box_w) // 2, box_h, box_w


def zoomed_lesion_views(images: np.ndarray, zooms: Sequence[float]) -> np.ndarray:
    """Centre crops of `images` `(n, S, S, 3) uint8`, one per zoom factor, enlarged back to `S × S`:
    `(n · len(zooms), S, S, 3)`, image i's at rows [i · len(zooms), (i + 1) · len(zooms))."""
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"lesion views need a non-empty (n, S, S, 3) stack, got shape {images.shape}")
    if not len(zooms):
        return images[:0]
    size = images.shape[1]
    boxes = [centre_box(size, images.shape[2], zoom) for zoom in zooms]
    views = [resize_rgb(image[top : top + h, left : left + w], size) for image in images for top, left, h, w in boxes]
    log.info("lesion views: %d centre crops of %d lesion images (zooms %s)", len(views), len(images), list(zooms))
    return np.stack(views)


def lesion_training_set(lesions: np.ndarray, zooms: Sequence[float] = ()) -> np.ndarray:
    """The lesion class's training images: `lesions` `(n, S, S, 3)`, then their zoomed views."""
    return np.concatenate([lesions, zoomed_lesion_views(lesions, zooms)]) if len(zooms) else lesions
