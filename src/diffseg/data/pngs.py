"""PNG files for people: per-step masks of a few images, and fused masks at original resolution.

The HDF5 shards are what later stages read; these PNGs are what a user opens, shares or submits
(ISIC naming `<id>_segmentation.png`, 0/255, the image's own size).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from diffseg.data.images import label_at_original_size, write_png
from diffseg.data.maps import read_maps


def enlarge(image: np.ndarray, min_side: int) -> np.ndarray:
    """Nearest-neighbour enlargement by a whole factor to at least `min_side` (model pixels stay visible)."""
    factor = max(1, -(-min_side // max(image.shape[:2])))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def write_step_mask_pngs(masks_path: str | os.PathLike, out_dir: str | os.PathLike, count: int,
                         min_side: int = 256) -> list[Path]:
    """`<out_dir>/<id>_t<step>.png` for every step of the first `count` images of a per-step mask shard."""
    shard = read_maps(masks_path, "masks", "steps")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for image_id, masks in zip(shard["ids"][:count], shard["masks"][:count], strict=True):
        for step, mask in zip(shard["steps"], masks, strict=True):
            path = out_dir / f"{image_id}_t{int(step):03d}.png"
            write_png(path, enlarge(mask.astype(bool), min_side))
            written.append(path)
    return written


def write_fused_masks(
    fused_path: str | os.PathLike,
    original_size: Callable[[int], tuple[int, int]],
    out_dir: str | os.PathLike,
) -> list[Path]:
    """`<out_dir>/<id>_segmentation.png` at each image's original size from a CRF shard's posterior.

    The soft posterior is upsampled and then labelled (as the metrics do), so the boundary is smooth
    at full resolution rather than a blown-up staircase of model pixels.
    """
    shard = read_maps(fused_path, "posterior")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for position, image_id, posterior in zip(shard["index"], shard["ids"], shard["posterior"], strict=True):
        mask = label_at_original_size(posterior, tuple(original_size(int(position))))
        path = out_dir / f"{image_id}_segmentation.png"
        write_png(path, mask)
        written.append(path)
    return written
