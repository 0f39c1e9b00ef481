"""Healthy-skin examples for the DDPM's healthy class, without pixel labels (schema `healthy`).

Three sources:
- `synthetic`: the store's own healthy training images (label 0) when it has any, as the embedded
  synthetic cohort does; otherwise images of the embedded generator's healthy skin.
- `folder`: a user's folder of healthy-skin images, resized to the model resolution.
- `border_crops`: crops at the border of the training lesion images, where dermoscopy almost always
  shows skin only. No mask is used. The store holds the images at `size × size` only, so a crop of
  `crop_fraction · size` pixels is cut from the store image and enlarged back to `size`; in the
  original image this is a `crop_fraction · H × crop_fraction · W` box (the store's resize does not
  keep the aspect), i.e. `crop_fraction` of each side rather than of the shorter side alone.
  Enlarged, a crop shows skin 1 / crop_fraction times closer than the lesion images do, so the
  healthy class also learns "zoomed in". `crop_scale: mirror` keeps the crop at the lesion images'
  own scale and fills the frame by mirroring it (symmetric padding), so that the two semantics
  differ in content, not in scale.

`border_crop_lesion_fraction` measures, with masks, how much lesion such crops contain.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from diffseg.data.images import IMAGE_FORMATS_TEXT, is_image_file, read_rgb, resize_rgb
from diffseg.data.shards import evaluation_positions
from diffseg.data.synthetic import synthesise_case
from diffseg.runtime.errors import BadInputError, ConfigError
from diffseg.runtime.logs import log

HEALTHY_SOURCES = ("synthetic", "folder", "border_crops")
CROP_SCALES = ("enlarge", "mirror")


def healthy_training_set(
    store,
    size: int,
    seed: int = 0,
    source: str = "synthetic",
    folder: str | os.PathLike | None = None,
    crop_fraction: float = 0.25,
    crops_per_image: int = 4,
    crop_scale: str = "enlarge",
) -> np.ndarray:
    """Healthy-skin training images `(n, size, size, 3) uint8` from `source`.

    `store` is an `ImageStore` at resolution `size`; the keywords after `seed` are the schema's
    `healthy` section (`healthy_training_set(store, size, seed, **config["healthy"])`).
    """
    if source == "synthetic":
        return _synthetic_healthy(store, size, seed)
    if source == "folder":
        return folder_images(folder, size)
    if source == "border_crops":
        lesions = store.images(evaluation_positions(store.split, store.label, "train"))
        return border_crops(lesions, crop_fraction, crops_per_image, crop_scale)
    raise ConfigError(f"healthy.source {source!r} is not one of {HEALTHY_SOURCES}")


def own_skin_per_lesion(source: str, crops_per_image: int) -> int:
    """How many consecutive images of `healthy_training_set` are each training lesion image's own
    skin: its border crops under `border_crops` (image i's are rows [i · crops, (i + 1) · crops)),
    none (0) under the other sources, whose healthy images belong to no lesion image."""
    return crops_per_image if source == "border_crops" else 0


def _synthetic_healthy(store, size: int, seed: int) -> np.ndarray:
    healthy = np.flatnonzero((store.split == "train") & (store.label == 0))
    if len(healthy):
        log.info("healthy skin: %d healthy training images of the store", len(healthy))
        return store.images(healthy)
    count = max(1, int(((store.split == "train") & (store.label == 1)).sum()))
    log.info("healthy skin: the store has none; generating %d synthetic healthy images", count)
    return generated_healthy_skin(count, size, seed)


def generated_healthy_skin(count: int, size: int, seed: int = 0) -> np.ndarray:
    """`count` images of the embedded generator's healthy skin `(count, size, size, 3) uint8`."""
    # Seeds of the form (seed, 0, k) are the generator's own healthy cases (synthetic.case_id).
    return np.stack(
        [synthesise_case(np.random.default_rng([seed, 0, k]), size, lesion=False)[0] for k in range(count)]
    ).reshape(count, size, size, 3)


def folder_images(folder: str | os.PathLike | None, size: int) -> np.ndarray:
    """Every image of `folder` (not its subfolders), resized to `(size, size, 3) uint8`."""
    if not folder:
        raise ConfigError("healthy.source is 'folder' but healthy.folder is not set")
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(folder, "healthy-skin folder does not exist")
    paths = sorted(p for p in folder.iterdir() if is_image_file(p))
    if not paths:
        raise BadInputError(folder, f"holds no images ({IMAGE_FORMATS_TEXT})")
    log.info("healthy skin: %d images from %s", len(paths), folder)
    return np.stack([resize_rgb(read_rgb(p, max_side=4 * size), size) for p in paths])


def border_crop_boxes(
    height: int, width: int, crop_fraction: float, count: int
) -> list[tuple[int, int, int, int]]:
    """`count` boxes `(top, left, box_height, box_width)` spaced evenly along the image border.

    Their top-left corners walk the loop through the four corners of the allowed positions, starting
    at the top-left corner: 4 boxes are the corners, 8 the corners and the edge midpoints.
    """
    if not 0 < crop_fraction <= 0.5:
        raise ConfigError(f"healthy.crop_fraction must be in (0, 0.5], got {crop_fraction}")
    box_h, box_w = max(1, round(crop_fraction * height)), max(1, round(crop_fraction * width))
    span_y, span_x = height - box_h, width - box_w
    corners = np.array([[0, 0], [0, span_x], [span_y, span_x], [span_y, 0], [0, 0]], dtype=float)
    edge_lengths = np.abs(np.diff(corners, axis=0)).sum(axis=1)
    walked = np.concatenate([[0.0], np.cumsum(edge_lengths)])
    boxes = []
    for distance in np.arange(count) * walked[-1] / count:
        edge = min(int(np.searchsorted(walked, distance, side="right")) - 1, 3)
        share = (distance - walked[edge]) / edge_lengths[edge] if edge_lengths[edge] else 0.0
        top, left = np.rint(corners[edge] + share * (corners[edge + 1] - corners[edge])).astype(int)
        boxes.append((int(top), int(left), box_h, box_w))
    return boxes


def border_crops(
    images: np.ndarray, crop_fraction: float, crops_per_image: int, crop_scale: str = "enlarge"
) -> np.ndarray:
    """Border crops of `images` `(n, S, S, 3) uint8` brought back to `S × S` (`crop_scale`: enlarged,
    or at their own scale and mirrored to fill the frame): `(n · crops, S, S, 3)`, image i's at rows
    [i · crops, (i + 1) · crops) (`own_skin_per_lesion`)."""
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"border crops need a non-empty (n, S, S, 3) stack, got shape {images.shape}")
    if crop_scale not in CROP_SCALES:
        raise ConfigError(f"healthy.crop_scale {crop_scale!r} is not one of {CROP_SCALES}")
    size = images.shape[1]
    fill = resize_rgb if crop_scale == "enlarge" else mirror_filled
    boxes = border_crop_boxes(size, images.shape[2], crop_fraction, crops_per_image)
    crops = [fill(image[top : top + h, left : left + w], size) for image in images for top, left, h, w in boxes]
    log.info("healthy skin: %d border crops of %d lesion images (%s)", len(crops), len(images), crop_scale)
    return np.stack(crops)


def mirror_filled(crop: np.ndarray, size: int) -> np.ndarray:
    """`crop` `(h, w, 3)` at its own scale in the middle of a `size × size` frame, the rest of the
    frame its mirror images (symmetric padding, repeated as often as the frame needs)."""
    height, width = crop.shape[:2]
    above, left = (size - height) // 2, (size - width) // 2
    pad = ((above, size - height - above), (left, size - width - left), (0, 0))
    return np.pad(crop, pad, mode="symmetric")


def border_crop_lesion_fraction(
    masks: Sequence[np.ndarray], crop_fraction: float, crops_per_image: int
) -> np.ndarray:
    """Lesion share of every border crop `(n, crops)` float, given each image's mask `(H, W)`.

    The masks only measure how clean the crops are; `border_crops` itself never sees them.
    """
    shares = []
    for mask in masks:
        mask = np.asarray(mask, dtype=bool)
        boxes = border_crop_boxes(*mask.shape, crop_fraction, crops_per_image)
        shares.append([mask[top : top + h, left : left + w].mean() for top, left, h, w in boxes])
    return np.asarray(shares, dtype=float).reshape(len(shares), crops_per_image)
