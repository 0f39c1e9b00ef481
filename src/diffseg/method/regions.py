"""Consistent and ambiguous regions of the per-step masks (docs/method.md §3).

The S per-step segmentations {M_t} of one image play the role of S annotators. Where all of them
mark lesion the region is *consistent*; where some do and some do not it is *ambiguous*. The
authors' code summarises the same sample by the pixelwise mean ("coherence") and the pixelwise
variance ("ambiguation"); both are written too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from diffseg.data.images import write_png
from diffseg.data.maps import open_shard
from diffseg.data.pngs import enlarge
from diffseg.runtime.atomic import atomic_path
from diffseg.runtime.errors import BadInputError

# Overlay colours: consistent lesion in red, ambiguous pixels in yellow (visible on skin tones).
CONSISTENT_RGB = np.array([230, 30, 30])
AMBIGUOUS_RGB = np.array([255, 220, 0])


def mean_mask(masks: np.ndarray) -> np.ndarray:
    """Pixelwise agreement (1/S) Σ_t M_t of `masks` `(S, H, W)` bool: `(H, W)` float32 in [0, 1]."""
    return np.asarray(masks, dtype=bool).mean(axis=0, dtype=np.float32)


def consistent_region(masks: np.ndarray) -> np.ndarray:
    """∩_t M_t: `(H, W)` bool, lesion where every output marks lesion."""
    return np.asarray(masks, dtype=bool).all(axis=0)


def ambiguous_region(masks: np.ndarray) -> np.ndarray:
    """(∪_t M_t) \\ (∩_t M_t): `(H, W)` bool, where the outputs disagree."""
    masks = np.asarray(masks, dtype=bool)
    return masks.any(axis=0) & ~masks.all(axis=0)


def variance_map(masks: np.ndarray) -> np.ndarray:
    """Pixelwise population variance of the outputs, the authors' "ambiguity": `(H, W)` float32.

    For 0/1 masks it equals p (1 − p) with p the mean mask, so it peaks at 0.25 where half the
    outputs disagree with the other half, and is 0 wherever they all agree.
    """
    return np.asarray(masks, dtype=bool).var(axis=0, dtype=np.float32)


def majority_vote(masks: np.ndarray, level: float = 0.5) -> np.ndarray:
    """Lesion where at least a share `level` of the outputs mark lesion: `(H, W)` bool.

    Ties (exactly half of an even number of outputs) count as lesion, the same `≥ 0.5` rule the
    evaluation applies to every soft map.
    """
    return mean_mask(masks) >= level


def regions_shard(masks_path: str | os.PathLike, out_path: str | os.PathLike) -> None:
    """Mean, variance, consistent and ambiguous maps of every image of a per-step masks shard.

    Reads `index`, `ids`, `steps` and `masks (n, S, H, W) uint8`; writes `index`, `ids`, `steps`,
    `mean (n, H, W) float16`, `variance (n, H, W) float16`, `consistent` and `ambiguous`
    `(n, H, W) uint8`, each chunked one image per chunk, atomically. float16 keeps a vote share k/S
    to within 2⁻¹² and 0.5 exactly, so labelling the stored mean at 0.5 gives the majority vote.
    """
    with open_shard(masks_path, ("index", "ids", "steps", "masks"), "per-step masks file") as source:
        masks = source["masks"]
        if masks.ndim != 4:
            raise BadInputError(masks_path, f"masks should be (n, S, H, W), found shape {masks.shape}")
        n, _, height, width = masks.shape
        with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as out:
            out.create_dataset("index", data=source["index"][()])
            out.create_dataset("ids", data=source["ids"][()], dtype=h5py.string_dtype())
            out.create_dataset("steps", data=source["steps"][()])
            per_image = {"compression": "gzip", "shuffle": True, "chunks": (1, height, width) if n else None}
            maps = {
                "mean": out.create_dataset("mean", (n, height, width), np.float16, **per_image),
                "variance": out.create_dataset("variance", (n, height, width), np.float16, **per_image),
                "consistent": out.create_dataset("consistent", (n, height, width), np.uint8, **per_image),
                "ambiguous": out.create_dataset("ambiguous", (n, height, width), np.uint8, **per_image),
            }
            # One image at a time: a shard's per-step masks need not fit in memory at once.
            for i in range(n):
                steps = masks[i].astype(bool)  # (S, H, W)
                maps["mean"][i] = mean_mask(steps)
                maps["variance"][i] = variance_map(steps)
                maps["consistent"][i] = consistent_region(steps)
                maps["ambiguous"][i] = ambiguous_region(steps)


def region_overlay(
    image: np.ndarray, consistent: np.ndarray, ambiguous: np.ndarray, opacity: float = 0.5
) -> np.ndarray:
    """The image `(H, W, 3)` uint8 with the consistent region tinted red and the ambiguous one yellow."""
    out = np.asarray(image, dtype=np.float32).copy()
    for region, colour in ((consistent, CONSISTENT_RGB), (ambiguous, AMBIGUOUS_RGB)):
        region = np.asarray(region, dtype=bool)
        out[region] = (1 - opacity) * out[region] + opacity * colour
    return np.rint(out).astype(np.uint8)


def write_region_overlays(
    regions_path: str | os.PathLike,
    image_of: Callable[[int], np.ndarray],
    out_dir: str | os.PathLike,
    count: int = 4,
    min_side: int = 256,
) -> list[Path]:
    """PNG overlays `<out_dir>/<id>.png` of the first `count` images of a regions shard.

    `image_of(position)` returns the store image at that position. Each overlay is enlarged by a whole
    factor (nearest neighbour, so model pixels stay visible as such) to at least `min_side` pixels.
    """
    with h5py.File(regions_path, "r") as h5:
        n = min(count, len(h5["index"]))
        positions, ids = h5["index"][:n], h5["ids"].asstr()[:n]
        consistent, ambiguous = h5["consistent"][:n].astype(bool), h5["ambiguous"][:n].astype(bool)
    Path(out_dir).mkdir(parents=True, exist_ok=True)  # exists even with count 0 (a rule's directory output)
    written = []
    for position, image_id, sure, unsure in zip(positions, ids, consistent, ambiguous, strict=True):
        overlay = region_overlay(image_of(int(position)), sure, unsure)
        path = Path(out_dir) / f"{image_id}.png"
        write_png(path, enlarge(overlay, min_side))
        written.append(path)
    return written
