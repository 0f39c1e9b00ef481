"""The prepared image store: one HDF5 file per dataset with every image decoded once.

Layout (docs/architecture.md): `images (N, S, S, 3) uint8` and `masks (N, S, S) uint8`, one
image per gzip chunk; `has_mask (N,) bool`; `masks_original/<id> (H, W) uint8` for images with a
mask; `ids`, `split` (utf-8); `label (N,) int8`; `orig_size (N, 2) int32`; attrs `size`, `source`.
It is written image by image, so memory stays bounded whatever the cohort's size, and read
chunk by chunk, so reading one image never loads the file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from PIL import Image

from diffseg.data.cohort import COHORT_COLUMNS, MASK_SUFFIX
from diffseg.data.images import read_mask, read_rgb_with_size, resize_mask, resize_rgb
from diffseg.runtime.atomic import atomic_path
from diffseg.runtime.errors import BadInputError, DiffSegError
from diffseg.runtime.logs import progress

log = logging.getLogger("diffseg")

MANIFEST_COLUMNS = ["position", "id", "label", "split", "height", "width", "has_mask"]
SKIPPED_COLUMNS = ["id", "path", "reason"]
BAD_IMAGE_POLICIES = ("fail", "skip")
# Images are decoded at no more than this many times the model resolution: JPEGs then decode at a
# reduced DCT scale (a 6000 px ISIC image in a fraction of the time and memory), and Lanczos from
# 4x the target is indistinguishable from Lanczos from full resolution.
DECODE_OVERSAMPLING = 4
_STR = h5py.string_dtype("utf-8")
# Errors the readers may still let through for a file they cannot use.
_READ_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


@dataclass
class _Decoded:
    image: np.ndarray  # (S, S, 3) uint8
    orig_hw: tuple[int, int]
    mask: np.ndarray | None  # (S, S) bool
    mask_original: np.ndarray | None  # (H, W) bool


def write_store(
    path: str | os.PathLike,
    cohort: pd.DataFrame,
    size: int,
    source: str,
    on_bad_image: str = "fail",
    min_side: int = 32,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decode every image (and mask) of `cohort` once into the HDF5 store at `path`, atomically.

    A file that cannot be used (unreadable, truncated, an image whose shorter side is below
    `min_side` pixels, a mask of another size than its image):
    with `on_bad_image="fail"` every file is still checked and one `BadInputError` lists them all,
    and no store is written; with `"skip"` those images are left out and listed in the returned
    skipped table (`id, path, reason`). Returns `(manifest, skipped)`; the manifest has one row per
    stored image: `position, id, label, split, height, width, has_mask` (original height/width).
    """
    if on_bad_image not in BAD_IMAGE_POLICIES:
        raise ValueError(f"on_bad_image must be one of {BAD_IMAGE_POLICIES}, got {on_bad_image!r}")
    cohort = _checked_cohort(cohort)
    # In a cohort with masks, a test lesion image without one could not be scored: say so now, not
    # after training and extraction.
    masks_expected = bool((cohort["mask_path"].fillna("") != "").any())
    rows, skipped = [], []
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        pixels = _create_pixel_datasets(h5, len(cohort), size)
        for record in progress(cohort.itertuples(index=False), desc="prepare", total=len(cohort)):
            try:
                decoded = _decode(record, size, min_side)
                if masks_expected:
                    _check_scorable(record)
            except BadInputError as exc:
                skipped.append({"id": record.id, "path": exc.path, "reason": exc.reason})
                continue
            if skipped and on_bad_image == "fail":
                continue  # the store will not be kept: only go on checking the remaining files
            rows.append(_write_image(h5, pixels, len(rows), record, decoded))
        skipped_table = pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)
        if len(skipped_table) and on_bad_image == "fail":
            raise _bad_files_error(skipped_table, len(cohort))
        if not rows:
            raise BadInputError(
                _common_folder(skipped_table["path"]), f"none of the {len(cohort)} images is usable"
            )
        for dataset in pixels.values():
            dataset.resize(len(rows), axis=0)
        manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
        _write_tables(h5, manifest, size, source)
    for entry in skipped:
        log.warning("skipped %s (%s): %s", entry["id"], entry["path"], entry["reason"])
    return manifest, skipped_table


class ImageStore:
    """Read-only, lazy access to a prepared store; use as a context manager or call `close()`.

    The per-image tables (`ids`, `split`, `label`, `has_mask`, `orig_size`) are read at opening;
    pixels are read only when asked for, one chunk per image.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise BadInputError(self.path, "image store does not exist; run the `prepare` stage")
        try:
            # A finished store never changes (it appears by an atomic rename), so readers need no
            # lock; HDF5's file locks fail on some network file systems of compute clusters.
            self._h5 = h5py.File(self.path, "r", locking=False)
        except OSError as exc:
            raise self._corrupt(exc) from None
        try:
            self._images, self._masks = self._h5["images"], self._h5["masks"]
            self.size = int(self._h5.attrs["size"])
            self.source = str(self._h5.attrs["source"])
            self.ids: list[str] = list(self._h5["ids"].asstr()[()])
            self.split = np.asarray(self._h5["split"].asstr()[()], dtype=str)
            self.label = self._h5["label"][()].astype(int)
            self.has_mask = self._h5["has_mask"][()].astype(bool)
            self.orig_size = self._h5["orig_size"][()].astype(int)
        except (KeyError, OSError) as exc:
            self._h5.close()
            raise self._corrupt(exc) from None

    def __len__(self) -> int:
        return len(self.ids)

    def __enter__(self) -> ImageStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._h5.close()

    def image(self, i: int) -> np.ndarray:
        """Image at position `i`, `(S, S, 3) uint8`."""
        return self._read(self._images, self._position(i))

    def images(self, indices) -> np.ndarray:
        """Images at `indices` (any order, repeats allowed), `(n, S, S, 3) uint8`."""
        return self._read_many(self._images, indices)

    def mask(self, i: int) -> np.ndarray:
        """Mask at position `i` at model resolution, `(S, S) uint8` 0/1 (zeros without a mask)."""
        return self._read(self._masks, self._position(i))

    def masks(self, indices) -> np.ndarray:
        """Masks at `indices`, `(n, S, S) uint8` 0/1."""
        return self._read_many(self._masks, indices)

    def mask_original(self, i: int) -> np.ndarray:
        """Mask at position `i` at the image's original resolution, `(H, W) uint8` 0/1."""
        i = self._position(i)
        if not self.has_mask[i]:
            raise DiffSegError(f"image {self.ids[i]} (position {i}) of {self.path} has no mask")
        return self._read(self._h5["masks_original"][self.ids[i]], ())

    def indices(self, split: str) -> np.ndarray:
        """Positions of the images of `split`, in store order."""
        return np.flatnonzero(self.split == split)

    def _position(self, i) -> int:
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"position {i} is out of range for a store of {len(self)} images")
        return i % len(self)

    def _read(self, dataset: h5py.Dataset, selection) -> np.ndarray:
        try:
            return dataset[selection]
        except OSError as exc:
            raise self._corrupt(exc) from None

    def _read_many(self, dataset: h5py.Dataset, indices) -> np.ndarray:
        positions = np.asarray(
            [self._position(i) for i in np.asarray(indices, dtype=np.int64).ravel()], dtype=np.int64
        )
        if positions.size == 0:
            return np.empty((0, *dataset.shape[1:]), dtype=dataset.dtype)
        # h5py selects only increasing, unique positions; read those, then reorder and repeat.
        unique, order = np.unique(positions, return_inverse=True)
        if unique[-1] - unique[0] + 1 == unique.size:
            block = self._read(dataset, np.s_[unique[0] : unique[-1] + 1])
        else:
            block = self._read(dataset, unique)
        return block[order]

    def _corrupt(self, exc: Exception) -> BadInputError:
        return BadInputError(
            self.path,
            f"not a readable image store ({exc}); it is corrupt or incomplete: delete it so that `prepare` runs again",
        )


def _checked_cohort(cohort: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in COHORT_COLUMNS if c not in cohort]
    if missing:
        raise ValueError(f"cohort table lacks column(s) {missing}")
    if cohort.empty:
        raise DiffSegError("the cohort has no images: nothing to prepare")
    duplicated = sorted(set(cohort.loc[cohort["id"].duplicated(), "id"]))
    if duplicated:
        raise DiffSegError(f"the cohort lists ids more than once: {duplicated[:5]}")
    cohort = cohort.reset_index(drop=True)
    cohort["mask_path"] = cohort["mask_path"].fillna("").astype(str)
    cohort["split"] = cohort["split"].fillna("").astype(str)
    return cohort


def _create_pixel_datasets(h5: h5py.File, n: int, size: int) -> dict[str, h5py.Dataset]:
    """Image and mask datasets at their largest length, resizable so skipped images leave no gap."""
    h5.create_group("masks_original")
    pixels = {"compression": "gzip", "shuffle": True}
    return {
        "images": h5.create_dataset(
            "images",
            (n, size, size, 3),
            np.uint8,
            maxshape=(None, size, size, 3),
            chunks=(1, size, size, 3),
            **pixels,
        ),
        "masks": h5.create_dataset(
            "masks", (n, size, size), np.uint8, maxshape=(None, size, size), chunks=(1, size, size), **pixels
        ),
    }


def _write_tables(h5: h5py.File, manifest: pd.DataFrame, size: int, source: str) -> None:
    """The small per-image tables (kilobytes even for thousands of images) and the attributes."""
    h5.attrs["size"] = size
    h5.attrs["source"] = source
    h5.create_dataset("ids", data=manifest["id"].to_numpy(dtype=object), dtype=_STR)
    h5.create_dataset("split", data=manifest["split"].to_numpy(dtype=object), dtype=_STR)
    h5.create_dataset("label", data=manifest["label"].to_numpy(dtype=np.int8))
    h5.create_dataset("has_mask", data=manifest["has_mask"].to_numpy(dtype=bool))
    h5.create_dataset("orig_size", data=manifest[["height", "width"]].to_numpy(dtype=np.int32).reshape(-1, 2))


def _check_scorable(record) -> None:
    """A test lesion image must have its mask when the cohort has masks."""
    if not record.mask_path and record.split == "test" and record.label == 1:
        raise BadInputError(
            record.image_path,
            f"no mask ({record.id}{MASK_SUFFIX}.png), but the cohort has masks and this test image is "
            "scored against one; add it, or remove the image",
        )


def _decode(record, size: int, min_side: int) -> _Decoded:
    """Read and resize one image and its mask; any reason not to use them is a `BadInputError`."""
    path = record.image_path
    try:
        rgb, orig_hw = read_rgb_with_size(path, max_side=DECODE_OVERSAMPLING * size)
        if min(orig_hw) < min_side:
            # Enlarged to the model's size, a thumbnail or a 1-pixel export would be mere blur.
            raise BadInputError(
                path,
                f"image is {orig_hw[0]}x{orig_hw[1]} (HxW), too small: its shorter side is below "
                f"dataset.min_side ({min_side} px)",
            )
        image = resize_rgb(rgb, size)
        if not record.mask_path:
            return _Decoded(image, orig_hw, None, None)
        path = record.mask_path
        mask_original = read_mask(path, expected_hw=orig_hw)
    except _READ_ERRORS as exc:
        raise BadInputError(path, f"{type(exc).__name__}: {exc}") from None
    return _Decoded(image, orig_hw, resize_mask(mask_original, size), mask_original)


def _write_image(
    h5: h5py.File, pixels: dict[str, h5py.Dataset], position: int, record, decoded: _Decoded
) -> dict:
    """Write one image's pixels and return its manifest row."""
    has_mask = decoded.mask is not None
    pixels["images"][position] = decoded.image
    if has_mask:
        pixels["masks"][position] = decoded.mask
        h5["masks_original"].create_dataset(
            record.id, data=decoded.mask_original.astype(np.uint8), compression="gzip", shuffle=True
        )
    height, width = decoded.orig_hw
    return {
        "position": position,
        "id": record.id,
        "label": int(record.label),
        "split": record.split,
        "height": height,
        "width": width,
        "has_mask": has_mask,
    }


def _bad_files_error(skipped: pd.DataFrame, total: int) -> BadInputError:
    lines = "\n".join(f"  {row.path}: {row.reason}" for row in skipped.itertuples())
    return BadInputError(
        _common_folder(skipped["path"]),
        f"{len(skipped)} of {total} images cannot be used (nothing was written):\n{lines}\n"
        "Fix or remove these files, or set dataset.on_bad_image: skip to leave them out.",
    )


def _common_folder(paths) -> str:
    try:
        return os.path.commonpath([str(Path(p).parent) for p in paths])
    except ValueError:  # paths on different drives
        return str(Path(next(iter(paths))).parent)
