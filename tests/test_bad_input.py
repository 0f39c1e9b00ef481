"""Acceptance test of issue 8's list of bad input: every case generated here, run through the functions
the `prepare` script calls (scan_folder, assign_splits, write_store, write_csv) and the loaders later
stages call (ImageStore, read_maps, load_model, train_ddpm's resume).

Image and mask files (one cohort holding all of them, one parametrized case each): with
`on_bad_image: fail` one error lists every unusable file and its reason and nothing is written; with
`skip` they are in skipped.csv and the rest is prepared; convertible images are converted.

Cases tested elsewhere, not repeated here:
- decoding details of each image kind (pixel values after conversion, PNG truncation, palette, 1-bit,
  float): tests/test_images.py;
- labels CSV problems, masks among images, splits: tests/test_cohort.py;
- wrong keys or values in the config, an empty (partial) config completed from the schema's
  defaults: tests/test_config.py;
- a checkpoint of another preset: tests/test_model.py (another image size: here);
- a corrupt, truncated or empty image store: tests/test_store.py::test_corrupt_store_says_to_delete_it;
- the downloader's faults (server error, timeout, dropped connection, wrong checksum):
  tests/test_download.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from image_files import jpeg_bytes, noise_rgb
from PIL import Image
from test_report import embedded

from diffseg.data.cohort import assign_splits, scan_folder
from diffseg.data.maps import read_maps, write_maps
from diffseg.data.store import ImageStore, write_store
from diffseg.method.model import build_unet, load_model, save_model
from diffseg.runtime.atomic import temporaries, write_csv
from diffseg.runtime.errors import BadInputError, ConfigError

from conftest import REPO, run_snakemake

SIZE = 16
# The generated images are small (12 to 48 px) to keep the tests fast; the one-pixel case is below.
MIN_SIDE = 8
SKIN = (200, 150, 120)


def prepare(images: Path, out: Path, on_bad_image: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What scripts/prepare.py does for a folder cohort (masks/ beside images/, no labels CSV)."""
    cohort = assign_splits(scan_folder(images), 0.5, seed=0)
    manifest, skipped = write_store(
        out / "store.h5", cohort, SIZE, "folder", on_bad_image=on_bad_image, min_side=MIN_SIDE
    )
    write_csv(manifest.merge(cohort[["id", "image_path", "mask_path"]], on="id", how="left"), out / "manifest.csv")
    write_csv(skipped, out / "skipped.csv")
    return manifest, skipped




def _mask(h: int, w: int, values=None) -> Image.Image:
    return Image.fromarray(np.full((h, w), 255, np.uint8) if values is None else values)


@dataclass
class Case:
    """One file (an image, and its mask when `mask` is given) and what must become of it."""

    write_image: Callable[[Path], None]  # writes the image; the argument is the path without suffix
    suffix: str
    mask: Image.Image | None = None
    reason: str | None = None  # the reason it is rejected, or None when it is kept
    bad_file: str = "image"  # which file the reason is about: "image" or "mask"
    check: Callable[[ImageStore, int, pd.Series], None] | None = None


def _check_grey(store, i, row):
    image = store.image(i)
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()


def _check_colour(colour, tolerance):
    def check(store, i, row):
        assert (np.abs(store.image(i).astype(int) - colour) <= tolerance).all()

    return check


def _check_upright(store, i, row):
    assert (row["height"], row["width"]) == (40, 20) and store.mask_original(i).shape == (40, 20)


def _check_thresholded_mask(store, i, row):
    original = store.mask_original(i)
    assert set(np.unique(original)) == {0, 1}
    np.testing.assert_array_equal(original[0], (np.arange(30) * 255 // 29 >= 128).astype(np.uint8))


def _check_empty_mask(store, i, row):
    assert store.has_mask[i] and not store.mask_original(i).any() and not store.mask(i).any()


def _truncated_jpeg(path: Path) -> None:
    whole = jpeg_bytes(Image.fromarray(noise_rgb(200, 200)))
    path.with_suffix(".jpg").write_bytes(whole[: 2 * len(whole) // 3])  # cut inside the pixel data


def _exif_rotated(path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 20 high and 40 wide, shown turned: 40 high, 20 wide
    path.with_suffix(".jpg").write_bytes(jpeg_bytes(Image.fromarray(noise_rgb(20, 40)), exif=exif.tobytes()))


# An ISO base media file of HEIF brand: the start of an iPhone photo, a format Pillow cannot decode.
HEIC_HEADER = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)


CASES = {
    "truncated_jpeg": Case(_truncated_jpeg, ".jpg", reason="truncated or corrupt image data"),
    "zero_byte": Case(lambda p: p.with_suffix(".jpg").write_bytes(b""), ".jpg", reason="file is empty (0 bytes)"),
    "text_named_jpg": Case(lambda p: p.with_suffix(".jpg").write_text("lesion 4 mm\n"), ".jpg",
                           reason="not an image in a format Pillow can read"),
    "one_pixel": Case(lambda p: Image.new("RGB", (1, 1), SKIN).save(p.with_suffix(".png")), ".png",
                      mask=_mask(1, 1), reason="image is 1x1 (HxW), too small: its shorter side is below "
                                                f"dataset.min_side ({MIN_SIDE} px)"),
    "heic": Case(lambda p: p.with_suffix(".heic").write_bytes(HEIC_HEADER), ".heic",
                 reason="HEIC image: a format Pillow cannot decode; convert it to PNG or JPEG"),
    "webp": Case(lambda p: Image.new("RGB", (30, 20), SKIN).save(p.with_suffix(".webp"), lossless=True), ".webp",
                 mask=_mask(20, 30), check=_check_colour(SKIN, 0)),
    "grayscale": Case(lambda p: Image.fromarray(noise_rgb(30, 30)[..., 0]).save(p.with_suffix(".png")), ".png",
                      mask=_mask(30, 30), check=_check_grey),
    "rgba": Case(lambda p: Image.new("RGBA", (30, 20), (*SKIN, 0)).save(p.with_suffix(".png")), ".png",
                 mask=_mask(20, 30), check=_check_colour(SKIN, 0)),
    "sixteen_bit_png": Case(lambda p: Image.fromarray(np.full((20, 30), 257 * 128, np.uint16)).save(
        p.with_suffix(".png")), ".png", mask=_mask(20, 30), check=_check_colour((128, 128, 128), 0)),
    "cmyk_jpeg": Case(lambda p: p.with_suffix(".jpg").write_bytes(
        jpeg_bytes(Image.new("CMYK", (24, 24), (0, 255, 255, 0)), quality=95)), ".jpg",
        mask=_mask(24, 24), check=_check_colour((255, 0, 0), 8)),
    "exif_rotated": Case(_exif_rotated, ".jpg", mask=_mask(40, 20), check=_check_upright),
    "mask_of_another_size": Case(lambda p: Image.fromarray(noise_rgb(20, 30)).save(p.with_suffix(".png")), ".png",
                                 mask=_mask(30, 20), reason="mask is 30x20 (HxW) but its image is 20x30",
                                 bad_file="mask"),
    "antialiased_mask": Case(lambda p: Image.fromarray(noise_rgb(20, 30)).save(p.with_suffix(".png")), ".png",
                             mask=_mask(20, 30, np.tile((np.arange(30) * 255 // 29).astype(np.uint8), (20, 1))),
                             check=_check_thresholded_mask),
    "all_empty_mask": Case(lambda p: Image.fromarray(noise_rgb(20, 30)).save(p.with_suffix(".png")), ".png",
                           mask=_mask(20, 30, np.zeros((20, 30), np.uint8)), check=_check_empty_mask),
    # Falls into the test split (seed 0), where it would be scored against its mask.
    "missing_mask": Case(lambda p: Image.fromarray(noise_rgb(20, 30)).save(p.with_suffix(".png")), ".png",
                         reason="no mask (missing_mask_segmentation.png), but the cohort has masks"),
}  # fmt: skip
GOOD = ("good_1", "good_2")


@pytest.fixture(scope="module")
def cohort_folder(tmp_path_factory) -> Path:
    """images/ and masks/ (ISIC naming) holding two good images and one file per case."""
    root = tmp_path_factory.mktemp("messy")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    for image_id in GOOD:
        Image.fromarray(noise_rgb(20, 30, seed=len(image_id))).save(root / "images" / f"{image_id}.png")
        _mask(20, 30).save(root / "masks" / f"{image_id}_segmentation.png")
    for image_id, case in CASES.items():
        case.write_image(root / "images" / image_id)
        if case.mask is not None:
            case.mask.save(root / "masks" / f"{image_id}_segmentation.png")
    return root


@pytest.fixture(scope="module")
def skipped_run(cohort_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    manifest, _ = prepare(cohort_folder / "images", out, "skip")
    skipped = pd.read_csv(out / "skipped.csv")
    with ImageStore(out / "store.h5") as store:
        yield manifest.set_index("id"), skipped.set_index("id"), store


def _bad_path(root: Path, image_id: str, case: Case) -> Path:
    if case.bad_file == "mask":
        return root / "masks" / f"{image_id}_segmentation.png"
    return root / "images" / f"{image_id}{case.suffix}"


def test_fail_lists_every_bad_file_with_its_reason_and_writes_nothing(cohort_folder, tmp_path):
    with pytest.raises(BadInputError) as caught:
        prepare(cohort_folder / "images", tmp_path / "prepared", "fail")
    bad = {image_id: case for image_id, case in CASES.items() if case.reason}
    lines = str(caught.value).splitlines()
    assert f"{len(bad)} of {len(CASES) + len(GOOD)} images cannot be used (nothing was written)" in lines[0]
    for image_id, case in bad.items():
        expected = f"  {_bad_path(cohort_folder, image_id, case)}: {case.reason}"
        assert any(line.startswith(expected) for line in lines), (image_id, str(caught.value))
    assert len(lines) == len(bad) + 2 and "on_bad_image: skip" in lines[-1]
    assert not (tmp_path / "prepared").exists() or list((tmp_path / "prepared").iterdir()) == []


@pytest.mark.parametrize("image_id", list(CASES))
def test_skip_lists_bad_files_and_converts_the_rest(skipped_run, cohort_folder, image_id):
    manifest, skipped, store = skipped_run
    case = CASES[image_id]
    assert set(GOOD) <= set(manifest.index)
    if case.reason:
        assert image_id not in manifest.index
        assert skipped.loc[image_id, "path"] == str(_bad_path(cohort_folder, image_id, case))
        assert skipped.loc[image_id, "reason"].startswith(case.reason)
        return
    assert image_id not in skipped.index
    row = manifest.loc[image_id]
    position = int(row["position"])
    assert store.ids[position] == image_id and store.image(position).shape == (SIZE, SIZE, 3)
    case.check(store, position, row)


def test_skip_leaves_no_gap_in_the_store(skipped_run):
    manifest, skipped, store = skipped_run
    assert sorted(manifest["position"]) == list(range(len(store))) == list(range(len(CASES) + len(GOOD) - len(skipped)))


@pytest.mark.parametrize(("min_side", "kept"), [(9, True), (10, False)])
def test_min_side_applies_to_the_shorter_side(tmp_path, min_side, kept):
    Image.fromarray(noise_rgb(9, 50)).save(tmp_path / "strip.png")  # 9 high, 50 wide
    Image.fromarray(noise_rgb(12, 12)).save(tmp_path / "square.png")
    cohort = assign_splits(scan_folder(tmp_path), 0.5, seed=0)
    manifest, skipped = write_store(tmp_path / "store.h5", cohort, SIZE, "folder", "skip", min_side=min_side)
    assert ("strip" in set(manifest["id"])) == kept and ("strip" in set(skipped["id"])) != kept


# --- the folder as a whole ---------------------------------------------------------------------------


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(noise_rgb(12, 12)).save(path)
    return path


def test_duplicate_ids_name_both_files_whatever_the_policy(tmp_path):
    _png(tmp_path / "images" / "lesion7.png")
    (tmp_path / "images" / "lesion7.jpg").write_bytes(jpeg_bytes(Image.fromarray(noise_rgb(12, 12))))
    _png(tmp_path / "images" / "other.png")
    for policy in ("fail", "skip"):
        with pytest.raises(BadInputError, match="two images share the id 'lesion7': lesion7.jpg and lesion7.png"):
            prepare(tmp_path / "images", tmp_path / "prepared", policy)


def test_non_image_files_are_ignored_and_logged(tmp_path, caplog):
    _png(tmp_path / "images" / "a.png")
    _png(tmp_path / "images" / "b.png")
    (tmp_path / "images" / "notes.txt").write_text("x")
    (tmp_path / "images" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "images" / "thumbs").mkdir()
    with caplog.at_level("INFO", logger="diffseg"):
        manifest, skipped = prepare(tmp_path / "images", tmp_path / "prepared", "fail")
    assert list(manifest["id"]) == ["a", "b"] and skipped.empty
    assert "ignored 3 entries that are not images" in caplog.text and "notes.txt" in caplog.text


def test_empty_and_missing_cohort_folders_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(BadInputError, match="no images found") as caught:
        prepare(tmp_path / "empty", tmp_path / "prepared", "skip")
    assert caught.value.path == str(tmp_path / "empty")
    with pytest.raises(BadInputError, match="image folder does not exist"):
        prepare(tmp_path / "nowhere", tmp_path / "prepared", "skip")
    _png(tmp_path / "images" / "a.png")
    with pytest.raises(BadInputError, match="mask folder does not exist"):
        scan_folder(tmp_path / "images", tmp_path / "no_masks")
    assert not (tmp_path / "prepared").exists()


def test_unicode_and_spaces_in_paths(tmp_path):
    folder = tmp_path / "Läsionen 2024" / "bilder mit leerzeichen"
    _png(folder / "naevus ä 1.JPG")
    Image.fromarray(np.full((12, 12), 255, np.uint8)).save(folder / "naevus ä 1_segmentation.png")
    _png(folder / "zweites bild.png")
    manifest, _ = prepare(folder, tmp_path / "prepared ü", "fail")
    assert sorted(manifest["id"]) == ["naevus ä 1", "zweites bild"]
    with ImageStore(tmp_path / "prepared ü" / "store.h5") as store:
        assert sorted(store.ids) == ["naevus ä 1", "zweites bild"]
        assert store.has_mask[store.ids.index("naevus ä 1")]
    saved = pd.read_csv(tmp_path / "prepared ü" / "manifest.csv")
    assert Path(saved.set_index("id").loc["naevus ä 1", "image_path"]).is_file()


# --- a 10 000 x 10 000 image: converted within bounded memory ---------------------------------------

PEAK_PROBE = """
import json, re, sys, warnings
warnings.simplefilter("error")  # a decompression-bomb warning would fail the run
from diffseg.data.cohort import assign_splits, scan_folder
from diffseg.data.store import write_store
cohort = assign_splits(scan_folder(sys.argv[1]), 0.5, seed=0)
manifest, skipped = write_store(sys.argv[2], cohort, 64, "folder", on_bad_image="fail")
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking pytest process.
with open("/proc/self/status") as status:
    peak_kib = int(re.search(r"VmHWM:\\s+(\\d+)", status.read()).group(1))
print(json.dumps({"sizes": manifest[["height", "width"]].values.tolist(), "peak_mib": peak_kib / 1024}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory read from Linux /proc")
def test_huge_image_is_prepared_without_decoding_it_at_full_size(tmp_path):
    """A 100 MP JPEG (300 MB as RGB) is prepared by a process whose peak memory stays far below that."""
    Image.new("RGB", (10000, 10000), SKIN).save(tmp_path / "huge.jpg", quality=50)
    result = subprocess.run([sys.executable, "-c", PEAK_PROBE, str(tmp_path), str(tmp_path / "store.h5")],
                            capture_output=True, text=True, check=True, env={"PYTHONPATH": str(REPO / "src")})  # fmt: skip
    report = json.loads(result.stdout)
    assert report["sizes"] == [[10000, 10000]]
    # The interpreter with numpy, pandas, h5py and Pillow is ~80 MiB; preparing the image adds ~20 MiB
    # (JPEG decoded at 1/8 scale); at full size it would add 300 MiB.
    assert report["peak_mib"] < 200, report
    with ImageStore(tmp_path / "store.h5") as store:
        assert (np.abs(store.image(0).astype(int) - SKIN) <= 3).all()


# --- files from an earlier run ------------------------------------------------------------------------


def _truncated_copy(path: Path, to: Path) -> Path:
    whole = path.read_bytes()
    to.write_bytes(whole[: len(whole) // 2])
    return to


def test_truncated_maps_shard_says_to_delete_it(tmp_path):
    shard = tmp_path / "shard-0000.h5"
    write_maps(shard, np.arange(3), ["a", "b", "c"], fused=np.random.default_rng(0).random((3, 64, 64)))
    for broken in (_truncated_copy(shard, tmp_path / "cut.h5"), tmp_path / "text.h5"):
        if broken.name == "text.h5":
            broken.write_text("not HDF5")
        with pytest.raises(BadInputError, match="delete it to regenerate") as caught:
            read_maps(broken, "fused")
        assert caught.value.path == str(broken)


def test_truncated_training_checkpoint_says_to_delete_it(tmp_path):
    from diffseg.method.training import CHECKPOINT_NAME, NetworkSpec, TrainingPaths, TrainSettings, train_ddpm

    images, labels = np.zeros((4, 8, 8, 3), np.uint8), np.array([0, 1, 0, 1])
    settings = TrainSettings(steps=2, batch_size=2, checkpoint_every=1)
    network = NetworkSpec("tiny", 8, "cpu")
    train_ddpm(images, labels, TrainingPaths(tmp_path / "work", tmp_path / "ema", tmp_path / "loss.csv"), settings, network)
    checkpoint = tmp_path / "work" / CHECKPOINT_NAME
    _truncated_copy(checkpoint, checkpoint)
    with pytest.raises(BadInputError, match="unreadable training checkpoint.*delete it to start over") as caught:
        paths = TrainingPaths(tmp_path / "work", tmp_path / "ema2", tmp_path / "loss2.csv")
        train_ddpm(images, labels, paths, settings, network)
    assert caught.value.path == str(checkpoint)
    assert temporaries(tmp_path) == []


def test_model_of_another_image_size_names_the_difference(tmp_path):
    save_model(build_unet("tiny", 64), tmp_path / "ema")
    with pytest.raises(ConfigError, match=r"sample_size=64 \(preset 'tiny' at 32 px needs 32\)"):
        load_model(tmp_path / "ema", preset="tiny", image_size=32)


def test_truncated_model_weights_say_to_delete_them(tmp_path):
    save_model(build_unet("tiny", 16), tmp_path / "ema")
    weights = next((tmp_path / "ema").glob("*.safetensors"))
    _truncated_copy(weights, weights)
    with pytest.raises(BadInputError, match="delete"):
        load_model(tmp_path / "ema")


@pytest.mark.pipeline
def test_skipped_csv_is_in_the_report(finished_run):
    page_path = finished_run.parent / "report-skipped.html"
    result = run_snakemake(finished_run.parents[1], "--report", str(page_path.relative_to(finished_run.parents[1])))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    entry = embedded(page_path.read_text(encoding="utf-8"), "results")["results/mini/prepared/skipped.csv"]
    assert "on_bad_image" in entry["caption"] and entry["data_uri"].startswith("data:")
