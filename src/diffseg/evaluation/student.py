"""The student: the supervised baseline's U-Net trained on a teacher's own masks (self-training).

DiffSeg segments an image with 2 × |steps| passes of the DDPM and a DenseCRF; a U-Net trained on its
fused masks of images the evaluation never scores (diffseg.evaluation.pseudo_labels) segments it in
one pass. It predicts under four flips of the image: their mean is its probability map, and the GED
diversity of their masks at three levels its per-image uncertainty, which tracks its error as the
per-step masks' diversity tracks DiffSeg's.
"""

from __future__ import annotations

import os

import h5py
import numpy as np
import torch

from diffseg.data.maps import write_maps
from diffseg.evaluation.pseudo_labels import UNCERTAINTY_LEVELS, level_masks, mask_uncertainty
from diffseg.evaluation.unet_baseline import load_unet
from diffseg.runtime.atomic import atomic_path
from diffseg.runtime.tensors import to_network_input

# The four flips the student predicts under (identity, left-right, up-down, both).
FLIP_DIMS = ((), (3,), (2,), (2, 3))


def student_flips(
    model_path: str | os.PathLike, images: np.ndarray, device: torch.device, batch_size: int = 64
) -> np.ndarray:
    """The student's lesion probabilities `(F, N, H, W)` float32 of uint8 RGB `images` `(N, H, W, 3)`
    under each of the F = 4 flips of `FLIP_DIMS`, each flipped back onto the image."""
    network = load_unet(model_path, device)
    images = np.asarray(images)
    flips = np.empty((len(FLIP_DIMS), *images.shape[:3]), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = to_network_input(images[start : start + batch_size], device)
            for f, dims in enumerate(FLIP_DIMS):
                logits = network(x.flip(dims) if dims else x)
                flips[f, start : start + len(x)] = (logits.flip(dims) if dims else logits)[:, 0].sigmoid().cpu().numpy()
    return flips


def predict_student(
    model_path: str | os.PathLike, images: np.ndarray, device: torch.device, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """The student's lesion probability `(N, H, W)` float32 of uint8 RGB `images` `(N, H, W, 3)`, the
    mean of its `student_flips`, and each image's `mask_uncertainty` over them `(N,)`."""
    flips = student_flips(model_path, images, device, batch_size)
    return flips.mean(axis=0), mask_uncertainty(flips)


def write_student_shard(
    store, positions: np.ndarray, model_path: str | os.PathLike, samples_path: str | os.PathLike,
    fused_path: str | os.PathLike, device: torch.device,
) -> None:
    """The student's segmentation of the images at `positions` of `store`, in the layouts the
    annotation's later rules read from the diffusion path: `samples_path` as a per-step masks file
    whose "steps" are its `level_masks` (four flips at three levels: `masks (n, 12, H, W)`, so its
    regions and GED diversity are those of the student's own sample), and `fused_path` as a DenseCRF
    shard whose `posterior` is its mean probability and `labels` that map's mask."""
    positions = np.asarray(positions, dtype=np.int64)
    ids = [store.ids[p] for p in positions]
    size = store.size
    flips = student_flips(model_path, store.images(positions), device) if len(positions) else (
        np.empty((len(FLIP_DIMS), 0, size, size), np.float32))
    samples = level_masks(flips).astype(np.uint8)
    with atomic_path(samples_path) as tmp, h5py.File(tmp, "w") as out:
        out.create_dataset("index", data=positions)
        out.create_dataset("ids", data=np.asarray(ids, dtype=object), dtype=h5py.string_dtype())
        out.create_dataset("steps", data=np.arange(samples.shape[1]))
        out.create_dataset("masks", data=samples, chunks=(1, *samples.shape[1:]) if len(ids) else None,
                           compression="gzip", shuffle=True)
        out.attrs.update(sample="student: four flips at levels " + ", ".join(map(str, UNCERTAINTY_LEVELS)))
    probability = flips.mean(axis=0)
    write_maps(fused_path, positions, ids, labels=(probability > 0.5).astype(np.uint8),
               posterior=probability.astype(np.float16))
