"""The prepared HDF5 store: written once from a cohort, read back lazily.

Bad and convertible files under `on_bad_image: fail | skip`: tests/test_bad_input.py.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from diffseg.data.cohort import assign_splits, scan_folder
from diffseg.data.images import read_mask, read_rgb, resize_mask, resize_rgb
from diffseg.data.store import MANIFEST_COLUMNS, SKIPPED_COLUMNS, ImageStore, write_store
from diffseg.runtime.errors import BadInputError, DiffSegError

SIZE = 16


def _rgb(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth random image (a gradient plus noise), so resizing matters and compression works."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, w)[None, :, None] + np.linspace(0, 50, h)[:, None, None]
    return np.clip(ramp + rng.normal(0, 5, (h, w, 3)), 0, 255).astype(np.uint8)


def _ellipse_mask(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - h / 2) / (h / 3)) ** 2 + ((xx - w / 2) / (w / 4)) ** 2 <= 1


def _cohort(folder: Path, shapes: dict[str, tuple[int, int]], without_mask=()) -> pd.DataFrame:
    """A folder cohort of PNG images with ISIC-named masks (none for ids in `without_mask`)."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    for seed, (image_id, (h, w)) in enumerate(shapes.items()):
        Image.fromarray(_rgb(h, w, seed)).save(folder / "images" / f"{image_id}.png")
        if image_id not in without_mask:
            Image.fromarray(_ellipse_mask(h, w).astype(np.uint8) * 255).save(
                folder / "masks" / f"{image_id}_segmentation.png"
            )
    return assign_splits(scan_folder(folder / "images", folder / "masks"), 0.5, seed=0)


SHAPES = {"a": (20, 30), "b": (40, 24), "c": (16, 16), "d": (9, 50), "e": (33, 33)}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    cohort = _cohort(folder, SHAPES, without_mask={"d"})
    cohort.loc[cohort["id"] == "e", "split"] = "val"
    cohort.loc[cohort["id"] == "c", "label"] = 0
    # A training image may lack its mask (only test lesion images are scored against one).
    cohort.loc[cohort["id"] == "d", "split"] = "train"
    path = folder / "prepared" / "store.h5"
    manifest, skipped = write_store(path, cohort, SIZE, "folder", min_side=min(map(min, SHAPES.values())))
    return cohort, path, manifest, skipped


def test_round_trip_keeps_every_table(written):
    cohort, path, manifest, skipped = written
    assert skipped.empty and list(skipped.columns) == SKIPPED_COLUMNS
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert list(manifest["position"]) == list(range(5))
    with ImageStore(path) as store:
        assert len(store) == 5 and store.size == SIZE and store.source == "folder"
        assert store.ids == list(cohort["id"]) == list(manifest["id"])
        assert list(store.split) == list(cohort["split"]) and "val" in store.split
        assert list(store.label) == [1, 1, 0, 1, 1]
        assert list(store.has_mask) == [True, True, True, False, True]
        assert store.orig_size.tolist() == [list(hw) for hw in SHAPES.values()]
        assert (manifest[["height", "width"]].to_numpy() == store.orig_size).all()
        assert list(store.indices("val")) == [4]
        assert list(np.sort(np.concatenate([store.indices(s) for s in ("train", "test", "val")]))) == [
            0,
            1,
            2,
            3,
            4,
        ]


def test_images_and_masks_equal_the_resized_inputs(written):
    cohort, path, _, _ = written
    with ImageStore(path) as store:
        for i, row in enumerate(cohort.itertuples()):
            image = store.image(i)
            assert image.dtype == np.uint8 and image.shape == (SIZE, SIZE, 3)
            np.testing.assert_array_equal(image, resize_rgb(read_rgb(row.image_path), SIZE))
            mask = store.mask(i)
            assert mask.dtype == np.uint8 and mask.shape == (SIZE, SIZE)
            if row.mask_path:
                original = read_mask(row.mask_path)
                np.testing.assert_array_equal(mask, resize_mask(original, SIZE))
                np.testing.assert_array_equal(store.mask_original(i), original.astype(np.uint8))
                assert set(np.unique(store.mask_original(i))) == {0, 1}
            else:
                assert not mask.any()
                with pytest.raises(DiffSegError, match="has no mask"):
                    store.mask_original(i)


def test_layout_matches_the_architecture(written):
    _, path, _, _ = written
    with h5py.File(path, "r") as h5:
        assert h5["images"].shape == (5, SIZE, SIZE, 3) and h5["images"].dtype == np.uint8
        assert h5["images"].chunks == (1, SIZE, SIZE, 3) and h5["images"].compression == "gzip"
        assert h5["masks"].chunks == (1, SIZE, SIZE) and h5["masks"].dtype == np.uint8
        assert h5["label"].dtype == np.int8 and h5["orig_size"].dtype == np.int32
        assert h5["has_mask"].dtype == bool
        assert sorted(h5["masks_original"]) == ["a", "b", "c", "e"]
        assert h5["masks_original/b"].shape == SHAPES["b"]
        assert h5.attrs["size"] == SIZE and h5.attrs["source"] == "folder"


def test_unsorted_and_repeated_indices(written):
    _, path, _, _ = written
    with ImageStore(path) as store:
        for indices in ([3, 0, 3, 2], np.array([4, 1], dtype=np.int32), [1, 2, 3], [-1, 0]):
            np.testing.assert_array_equal(store.images(indices), np.stack([store.image(i) for i in indices]))
            np.testing.assert_array_equal(store.masks(indices), np.stack([store.mask(i) for i in indices]))
        assert store.images([]).shape == (0, SIZE, SIZE, 3)
        with pytest.raises(IndexError, match="position 5"):
            store.images([0, 5])


def test_reading_one_image_reads_only_its_chunk(written, tmp_path):
    """Garbage in the chunk of image 3 does not stop image 1 from being read: the file is not loaded."""
    _, path, _, _ = written
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(path.read_bytes())
    with h5py.File(damaged, "r") as h5:
        chunk = h5["images"].id.get_chunk_info(3)
    with open(damaged, "r+b") as handle:
        handle.seek(chunk.byte_offset)
        handle.write(b"\xff" * chunk.size)
    with ImageStore(path) as intact, ImageStore(damaged) as store:
        np.testing.assert_array_equal(store.image(1), intact.image(1))
        with pytest.raises(BadInputError, match="delete it so that `prepare` runs again"):
            store.image(3)


def test_nothing_usable_is_a_clear_error(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "zero.png").write_bytes(b"")
    cohort = assign_splits(scan_folder(tmp_path / "images"), 0.5, seed=0)
    with pytest.raises(BadInputError, match="none of the 1 images is usable"):
        write_store(tmp_path / "store.h5", cohort, SIZE, "folder", on_bad_image="skip")
    with pytest.raises(DiffSegError, match="no images"):
        write_store(tmp_path / "store.h5", cohort.iloc[:0], SIZE, "folder")
    with pytest.raises(ValueError, match="on_bad_image"):
        write_store(tmp_path / "store.h5", cohort, SIZE, "folder", on_bad_image="ignore")
    assert not (tmp_path / "store.h5").exists()


@pytest.mark.parametrize(
    "content, name",
    [(b"this is not HDF5", "text"), (None, "truncated"), (b"", "empty")],
)
def test_corrupt_store_says_to_delete_it(written, tmp_path, content, name):
    _, path, _, _ = written
    if content is None:
        whole = path.read_bytes()
        content = whole[: len(whole) // 2]
    broken = tmp_path / f"{name}.h5"
    broken.write_bytes(content)
    with pytest.raises(BadInputError, match="delete it") as caught:
        ImageStore(broken).image(0)
    assert caught.value.path == str(broken)


def test_missing_store_is_named(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        ImageStore(tmp_path / "absent.h5")


def test_isic_sample_store(isic_sample, tmp_path):
    """Real JPEGs decoded at reduced scale: images match full decoding closely, masks exactly."""
    cohort = assign_splits(scan_folder(isic_sample / "images", isic_sample / "masks"), 0.3, seed=0).iloc[:25]
    manifest, skipped = write_store(tmp_path / "isic.h5", cohort, 32, "folder")
    assert skipped.empty and manifest["has_mask"].all()
    with ImageStore(tmp_path / "isic.h5") as store:
        assert store.ids == list(cohort["id"])
        for i, row in enumerate(cohort.itertuples()):
            full = read_rgb(row.image_path)
            assert tuple(store.orig_size[i]) == full.shape[:2]
            difference = np.abs(store.image(i).astype(int) - resize_rgb(full, 32).astype(int))
            assert difference.mean() < 2.0 and np.percentile(difference, 99) <= 12
            original = read_mask(row.mask_path)
            np.testing.assert_array_equal(store.mask_original(i), original)
            np.testing.assert_array_equal(store.mask(i), resize_mask(original, 32))


def _peak_bytes_writing(folder: Path, n: int, size: int) -> int:
    cohort = _cohort(folder, {f"img{k:03d}": (48, 64) for k in range(n)})
    tracemalloc.start()
    try:
        write_store(folder / "store.h5", cohort, size, "folder")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_images(tmp_path):
    size = 64
    _peak_bytes_writing(tmp_path / "warm-up", 2, size)  # first-call allocations (imports, caches)
    small = _peak_bytes_writing(tmp_path / "small", 10, size)
    large = _peak_bytes_writing(tmp_path / "large", 210, size)
    # Only the manifest's row (about 1 KiB) may grow per image; keeping the images in memory, even
    # at model resolution, would add 12 KiB each.
    per_image = (large - small) / 200
    assert per_image < size * size * 3 / 4, (small, large)
