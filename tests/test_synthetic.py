"""The embedded synthetic cohort: deterministic, masks exactly where the lesion is, a usable folder cohort."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage

from diffseg.data.cohort import scan_folder
from diffseg.data.synthetic import LESION_AREA_RANGE, case_id, synthesise_case, write_synthetic_cohort


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "cohort"
    write_synthetic_cohort(out, n_lesion=12, n_healthy=8, size=48, seed=3, test_fraction=0.3)
    return out


def test_same_seed_writes_identical_bytes(cohort_dir, tmp_path):
    again = tmp_path / "again"
    write_synthetic_cohort(again, n_lesion=12, n_healthy=8, size=48, seed=3, test_fraction=0.3)
    assert _files(again) == _files(cohort_dir)


def test_different_seed_gives_different_images(cohort_dir, tmp_path):
    other = tmp_path / "other"
    write_synthetic_cohort(other, n_lesion=12, n_healthy=8, size=48, seed=4, test_fraction=0.3)
    first, second = _files(cohort_dir), _files(other)
    assert first.keys() == second.keys()
    images = [name for name in first if name.startswith("images/")]
    assert all(first[name] != second[name] for name in images)


def test_adding_cases_keeps_the_existing_ones(cohort_dir, tmp_path):
    smaller = tmp_path / "smaller"
    write_synthetic_cohort(smaller, n_lesion=5, n_healthy=2, size=48, seed=3, test_fraction=0.3)
    small, large = _files(smaller), _files(cohort_dir)
    pixel_files = [name for name in small if name != "labels.csv"]
    assert len(pixel_files) == 14
    assert all(small[name] == large[name] for name in pixel_files)


def test_layout_is_a_folder_cohort_with_labels_and_splits(cohort_dir):
    labels = pd.read_csv(cohort_dir / "labels.csv", dtype={"id": str})
    assert list(labels.columns) == ["id", "label", "split"]
    assert len(labels) == 20 and labels["id"].is_unique
    assert (labels["label"] == labels["id"].str[4].astype(int)).all()  # SYN_1… lesion, SYN_0… healthy
    assert set(labels["split"]) == {"train", "test"}
    for label in (0, 1):
        assert set(labels.loc[labels["label"] == label, "split"]) == {"train", "test"}
    cohort = scan_folder(cohort_dir / "images", cohort_dir / "masks", cohort_dir / "labels.csv")
    assert list(cohort["id"]) == sorted(labels["id"])
    assert (cohort["mask_path"] != "").all()
    assert not list(cohort_dir.parent.glob(".cohort.*")), "no temporary folder may be left behind"


def test_masks_are_0_255_and_empty_exactly_for_healthy_skin(cohort_dir):
    for number in range(8):
        mask = np.asarray(Image.open(cohort_dir / "masks" / f"{case_id(0, number)}_segmentation.png"))
        assert mask.shape == (48, 48) and not mask.any()
    areas = []
    for number in range(12):
        mask = np.asarray(Image.open(cohort_dir / "masks" / f"{case_id(1, number)}_segmentation.png"))
        assert set(np.unique(mask)) == {0, 255}
        areas.append((mask == 255).mean())
    # A lesion cut by the frame loses some area, hence the margin below the range's minimum.
    assert min(areas) >= 0.8 * LESION_AREA_RANGE[0] and max(areas) <= LESION_AREA_RANGE[1] + 0.01
    assert max(areas) / min(areas) > 2, "lesion sizes must vary"


@pytest.mark.parametrize("size", [32, 96])
def test_mask_covers_exactly_the_pixels_the_lesion_darkens(size):
    """The healthy twin (same generator, no lesion) shows what the lesion changed."""
    scale = size / 64
    for number in range(15):
        image, mask = synthesise_case(np.random.default_rng([7, 1, number]), size, lesion=True)
        twin, twin_mask = synthesise_case(np.random.default_rng([7, 1, number]), size, lesion=False)
        assert not twin_mask.any()
        brightness, twin_brightness = image.astype(int).sum(axis=2), twin.astype(int).sum(axis=2)
        assert (brightness[mask] < twin_brightness[mask]).all(), "every mask pixel is darkened by the lesion"
        changed = (image != twin).any(axis=2)
        # Outside the mask only the lesion's soft rim (blur of at most 2.2 px, cut at 4 sigma) differs.
        distance_to_mask = ndimage.distance_transform_edt(~mask)
        assert distance_to_mask[changed].max() <= 11 * scale


def test_lesion_colour_and_border_sharpness_vary():
    contrasts, rims = [], []
    for number in range(30):
        image, mask = synthesise_case(np.random.default_rng([1, 1, number]), 64, lesion=True)
        twin, _ = synthesise_case(np.random.default_rng([1, 1, number]), 64, lesion=False)
        darkening = 1 - image[mask].astype(float).mean(axis=0) / twin[mask].astype(float).mean(axis=0)
        contrasts.append(darkening)
        # Share of changed pixels lying outside the mask: wider for soft borders.
        changed = (image != twin).any(axis=2)
        rims.append((changed & ~mask).sum() / mask.sum())
    contrasts = np.array(contrasts)  # (cases, RGB) relative darkening
    assert (contrasts > 0.1).all(), "lesions are visibly darker than the skin"
    assert np.ptp(contrasts.mean(axis=1)) > 0.2
    blue_over_red = contrasts[:, 2] / contrasts[:, 0]
    assert blue_over_red.min() < 0.9 < 1.1 < blue_over_red.max(), "brown and blue-grey lesions both occur"
    assert max(rims) > 3 * min(rims), "border sharpness varies"


def test_rewrite_replaces_an_older_cohort_whole(tmp_path):
    out = tmp_path / "cohort"
    write_synthetic_cohort(out, n_lesion=3, n_healthy=2, size=24, seed=0)
    (out / "images" / "stale.png").write_bytes(b"left from an older run")
    table = write_synthetic_cohort(out, n_lesion=2, n_healthy=2, size=24, seed=0)
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(f"{i}.png" for i in table["id"])
    assert [p.name for p in tmp_path.iterdir()] == ["cohort"]
    assert all(Path(p).is_file() for p in table["image_path"]) and all(
        Path(p).is_file() for p in table["mask_path"]
    )


def test_negative_counts_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_lesion"):
        write_synthetic_cohort(tmp_path / "c", n_lesion=-1, n_healthy=2)
    assert not (tmp_path / "c").exists()
