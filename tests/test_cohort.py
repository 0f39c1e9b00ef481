"""Folder cohorts: which files are images, which are masks, labels, and stable seeded splits.

Duplicate ids, non-image files, empty or missing folders, unicode paths: tests/test_bad_input.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from diffseg.data.cohort import COHORT_COLUMNS, assign_splits, scan_folder, split_hash
from diffseg.runtime.errors import BadInputError


def _image(path: Path, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 8, 3), value, np.uint8)).save(path)
    return path


def _cohort_of(ids, labels=None) -> pd.DataFrame:
    labels = [1] * len(ids) if labels is None else labels
    return pd.DataFrame(
        {"id": ids, "image_path": [f"{i}.png" for i in ids], "mask_path": "", "label": labels, "split": ""}
    )


def test_isic_sample_has_98_images_all_with_their_masks(isic_sample):
    cohort = scan_folder(isic_sample / "images", isic_sample / "masks")
    assert list(cohort.columns) == COHORT_COLUMNS
    assert len(cohort) == 98 and cohort["id"].is_unique
    assert list(cohort["id"]) == sorted(cohort["id"])
    assert cohort["id"].str.fullmatch(r"ISIC_\d{7}").all()
    for row in cohort.itertuples():
        assert Path(row.image_path).name == f"{row.id}.jpg"
        assert Path(row.mask_path) == isic_sample / "masks" / f"{row.id}_segmentation.png"
    assert (cohort["label"] == 1).all() and (cohort["split"] == "").all()


def test_masks_folder_beside_the_images_is_found_without_being_named(isic_sample):
    named = scan_folder(isic_sample / "images", isic_sample / "masks")
    found = scan_folder(isic_sample / "images")
    pd.testing.assert_frame_equal(named, found)


def test_unlabelled_folder_without_masks(tmp_path):
    for name in ("b.png", "a.jpg", "c.BMP"):
        _image(tmp_path / "photos" / name)
    cohort = scan_folder(tmp_path / "photos")
    assert list(cohort["id"]) == ["a", "b", "c"]
    assert (cohort["mask_path"] == "").all()
    assert (cohort["label"] == 1).all(), "without labels every image is a lesion image"
    assert (cohort["split"] == "").all()


def test_isic_masks_lying_among_the_images_are_masks_not_images(tmp_path):
    _image(tmp_path / "x1.jpg")
    _image(tmp_path / "x1_segmentation.png")
    _image(tmp_path / "x2.jpg")
    cohort = scan_folder(tmp_path)
    assert list(cohort["id"]) == ["x1", "x2"]
    assert list(cohort["mask_path"]) == [str(tmp_path / "x1_segmentation.png"), ""]


def test_plain_png_names_in_a_mask_folder_are_masks(tmp_path):
    _image(tmp_path / "images" / "p.jpg")
    _image(tmp_path / "images" / "q.jpg")
    _image(tmp_path / "labels" / "p.png")
    _image(tmp_path / "labels" / "q.png")
    _image(tmp_path / "labels" / "q_segmentation.png")
    cohort = scan_folder(tmp_path / "images", tmp_path / "labels")
    assert list(cohort["mask_path"]) == [
        str(tmp_path / "labels" / "p.png"),
        str(tmp_path / "labels" / "q_segmentation.png"),
    ]


def test_labels_csv_sets_labels_and_splits(tmp_path):
    for name in ("h1.png", "l1.png", "l2.png"):
        _image(tmp_path / "images" / name)
    (tmp_path / "labels.csv").write_text("id,label,split\nl1,1,test\nh1,healthy,\nl2,lesion,train\n")
    cohort = scan_folder(tmp_path / "images", labels_csv=tmp_path / "labels.csv")
    assert list(cohort["label"]) == [0, 1, 1]
    assert list(cohort["split"]) == ["", "test", "train"]


def test_labels_csv_with_numeric_ids_keeps_leading_zeros(tmp_path):
    _image(tmp_path / "images" / "007.png")
    (tmp_path / "labels.csv").write_text("id,label\n007,0\n")
    cohort = scan_folder(tmp_path / "images", labels_csv=tmp_path / "labels.csv")
    assert list(cohort["id"]) == ["007"] and list(cohort["label"]) == [0]


@pytest.mark.parametrize(
    "rows, message",
    [
        ("id,label\na,1\n", "has no row for 1 image"),
        ("id,label\na,1\nb,0\nzz,1\n", "names missing images.*zz"),
        ("id,label\na,1\nb,maybe\n", "'maybe' is neither"),
        ("id,label\na,1\nb,0\na,0\n", "more than once: a"),
        ("id,label,split\na,1,train\nb,0,holdout\n", "unknown split"),
        ("name,class\na,1\nb,0\n", "needs columns id,label"),
    ],
)
def test_labels_csv_problems_name_the_csv(tmp_path, rows, message):
    _image(tmp_path / "images" / "a.png")
    _image(tmp_path / "images" / "b.png")
    (tmp_path / "labels.csv").write_text(rows)
    with pytest.raises(BadInputError, match=message) as caught:
        scan_folder(tmp_path / "images", labels_csv=tmp_path / "labels.csv")
    assert caught.value.path == str(tmp_path / "labels.csv")


def test_splits_do_not_move_when_an_image_is_removed(isic_sample, tmp_path):
    for source in sorted((isic_sample / "images").iterdir())[:40]:
        (tmp_path / source.name).symlink_to(source)
    before = assign_splits(scan_folder(tmp_path), 0.3, seed=5).set_index("id")["split"]
    removed = before.index[7]
    (tmp_path / f"{removed}.jpg").unlink()
    after = assign_splits(scan_folder(tmp_path), 0.3, seed=5).set_index("id")["split"]
    assert removed not in after.index
    pd.testing.assert_series_equal(after, before.drop(removed))


def test_splits_are_seeded_stratified_and_keep_given_values():
    ids = [f"img{i:05d}" for i in range(4000)]
    labels = [i % 2 for i in range(4000)]
    cohort = _cohort_of(ids, labels)
    cohort.loc[:9, "split"] = "val"
    split = assign_splits(cohort, 0.25, seed=1)
    assert (split.loc[:9, "split"] == "val").all()
    assert set(split.loc[10:, "split"]) == {"train", "test"}
    assigned = split.loc[10:]
    for label in (0, 1):
        share = (assigned.loc[assigned["label"] == label, "split"] == "test").mean()
        assert abs(share - 0.25) < 0.03
    assert split["split"].equals(assign_splits(cohort, 0.25, seed=1)["split"])
    assert not split["split"].equals(assign_splits(cohort, 0.25, seed=2)["split"])
    assert cohort["split"].iloc[-1] == "", "the input table is not changed"


def test_split_rule_is_the_documented_hash_threshold():
    cohort = _cohort_of([f"c{i}" for i in range(200)])
    split = assign_splits(cohort, 0.4, seed=9)
    expected = ["test" if split_hash(9, i) < 0.4 else "train" for i in cohort["id"]]
    assert list(split["split"]) == expected


def test_a_tiny_label_gets_both_splits():
    # Two healthy images whose hashes both fall on the training side at seed 0.
    healthy = [i for i in (f"h{k}" for k in range(100)) if split_hash(0, i) >= 0.3][:2]
    split = assign_splits(_cohort_of(["l1", "l2", *healthy], [1, 1, 0, 0]), 0.3, seed=0)
    assert sorted(split.loc[split["label"] == 0, "split"]) == ["test", "train"]


def test_test_fraction_out_of_range_is_refused():
    with pytest.raises(ValueError, match="test_fraction"):
        assign_splits(_cohort_of(["a"]), 1.0, seed=0)
