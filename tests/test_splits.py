"""Official splits from a manifest CSV and the development split carved from the training images."""

from __future__ import annotations

import pandas as pd
import pytest

from diffseg.data.splits import DEV_SPLIT, carve_dev_split, held_out_cohort, official_splits
from diffseg.runtime.errors import BadInputError, ConfigError

OPTIONS = {"column": "split", "train": "train", "test": ["val"], "id_column": "id", "group": None, "keep": ["kind"]}


def _cohort(ids, masks=True) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "image_path": [f"{i}.jpg" for i in ids],
                         "mask_path": [f"{i}_segmentation.png" if masks else "" for i in ids],
                         "label": 1, "split": ""})


def _manifest(tmp_path, rows) -> str:
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_splits_come_from_the_chosen_column_and_values_and_other_values_are_left_out(tmp_path):
    csv = _manifest(tmp_path, {"id": ["a", "b", "c", "d", "e"], "split": ["train", "val", "train", "test", "val"],
                               "kind": ["full", "thumb", "full", "full", "thumb"], "other": 1})
    cohort = official_splits(_cohort(["a", "b", "c", "d"]), csv, **OPTIONS)
    assert cohort.set_index("id")["split"].to_dict() == {"a": "train", "b": "test", "c": "train"}
    assert cohort.set_index("id")["kind"].to_dict() == {"a": "full", "b": "thumb", "c": "full"}
    assert "other" not in cohort


def test_an_image_without_a_row_or_a_value_in_both_splits_is_an_error(tmp_path):
    csv = _manifest(tmp_path, {"id": ["a"], "split": ["train"], "kind": ["full"]})
    with pytest.raises(BadInputError, match="no row for 1 image"):
        official_splits(_cohort(["a", "b"]), csv, **OPTIONS)
    with pytest.raises(BadInputError, match="both train and test"):
        official_splits(_cohort(["a"]), csv, **(OPTIONS | {"test": ["train"]}))
    with pytest.raises(BadInputError, match="lacks column"):
        official_splits(_cohort(["a"]), csv, **(OPTIONS | {"column": "suggested_split"}))


def test_a_lesion_in_both_train_and_test_is_an_error(tmp_path):
    csv = _manifest(tmp_path, {"id": ["a", "b", "c"], "split": ["train", "val", "train"],
                               "lesion": ["L1", "L1", "L2"], "kind": "x"})
    with pytest.raises(BadInputError, match="1 lesion group"):
        official_splits(_cohort(["a", "b", "c"]), csv, **(OPTIONS | {"group": "lesion"}))


def _training(n_lesions, images_per_lesion=1) -> pd.DataFrame:
    ids = [f"img{i:03d}" for i in range(n_lesions * images_per_lesion)]
    cohort = _cohort(ids).assign(split="train")
    cohort["lesion"] = [f"L{i // images_per_lesion}" for i in range(len(ids))]
    return cohort


def test_the_development_split_is_about_the_fraction_seeded_and_stable():
    cohort = carve_dev_split(_training(400), 0.2, seed=3, group=None)
    assert 60 <= (cohort["split"] == DEV_SPLIT).sum() <= 100
    again = carve_dev_split(_training(400), 0.2, seed=3, group=None)
    pd.testing.assert_frame_equal(cohort, again)
    other_seed = carve_dev_split(_training(400), 0.2, seed=4, group=None)
    assert not cohort["split"].equals(other_seed["split"])
    # Adding images moves no other image.
    larger = carve_dev_split(_training(500), 0.2, seed=3, group=None)
    assert larger.set_index("id").loc[cohort["id"], "split"].tolist() == cohort["split"].tolist()


def test_a_lesion_is_in_the_development_split_whole_and_test_images_stay():
    cohort = pd.concat([_training(100, images_per_lesion=3), _cohort(["t1", "t2"]).assign(split="test", lesion="T")])
    carved = carve_dev_split(cohort.reset_index(drop=True), 0.25, seed=0, group="lesion")
    assert (carved.groupby("lesion")["split"].nunique() == 1).all()
    assert carved.loc[carved["id"].isin(["t1", "t2"]), "split"].eq("test").all()
    assert 0 < (carved["split"] == DEV_SPLIT).sum() < 300


def test_a_tiny_cohort_still_gets_one_development_and_one_training_group():
    for seed in range(20):
        carved = carve_dev_split(_training(2), 0.01, seed=seed, group=None)
        assert sorted(carved["split"]) == [DEV_SPLIT, "train"]
        carved = carve_dev_split(_training(2), 0.99, seed=seed, group=None)
        assert sorted(carved["split"]) == [DEV_SPLIT, "train"]
    assert carve_dev_split(_training(5), 0, seed=0, group=None)["split"].eq("train").all()
    with pytest.raises(ConfigError, match="too few"):
        carve_dev_split(_training(1), 0.5, seed=0, group=None)


def test_only_lesion_images_with_masks_are_drawn_and_the_held_out_cohort_is_scorable():
    unmasked = _cohort(["u1", "u2", "u3"], masks=False).assign(split="train")
    cohort = pd.concat([_training(10), unmasked], ignore_index=True)
    carved = carve_dev_split(cohort, 0.5, seed=1, group=None)
    assert carved.loc[carved["id"].str.startswith("u"), "split"].eq("train").all()
    held_out = held_out_cohort(carved, DEV_SPLIT)
    assert held_out["split"].eq("test").all()
    assert sorted(held_out["id"]) == sorted(carved.loc[carved["split"] == DEV_SPLIT, "id"])
    with pytest.raises(ConfigError, match="no lesion image"):
        held_out_cohort(cohort, DEV_SPLIT)


def _kinds_cohort(train_full: int, train_thumb: int, test_full: int, test_thumb: int) -> pd.DataFrame:
    """ISIC 2017's shape in miniature: a training split mostly thumbnails, a test split mostly full."""
    kinds = ["full"] * train_full + ["thumb"] * train_thumb + ["full"] * test_full + ["thumb"] * test_thumb
    cohort = _cohort([f"i{n:04d}" for n in range(len(kinds))])
    split = ["train"] * (train_full + train_thumb) + ["test"] * (test_full + test_thumb)
    return cohort.assign(kind=kinds, split=split)


def test_a_stratified_development_split_holds_the_test_split_s_mix():
    cohort = _kinds_cohort(456, 1544, 98, 52)  # ISIC 2017: train 23 % full-resolution, val 65 %
    plain = carve_dev_split(cohort, 0.1, seed=0, group=None)
    stratified = carve_dev_split(cohort, 0.1, seed=0, group=None, stratify="kind")
    share = lambda frame: (frame.loc[frame["split"] == DEV_SPLIT, "kind"] == "full").mean()  # noqa: E731
    assert share(plain) < 0.35 and abs(share(stratified) - 98 / 150) < 0.08
    assert abs((stratified["split"] == DEV_SPLIT).sum() - 200) < 30  # about the same size
    # Test images stay; a stratum the test split lacks gives nothing.
    assert stratified.loc[stratified.index >= 2000, "split"].eq("test").all()
    no_thumbs = carve_dev_split(_kinds_cohort(100, 100, 20, 0), 0.2, seed=0, group=None, stratify="kind")
    assert set(no_thumbs.loc[no_thumbs["split"] == DEV_SPLIT, "kind"]) == {"full"}


def test_a_stratify_column_the_cohort_lacks_is_named():
    with pytest.raises(ConfigError, match="'img_kind'.*add it to dataset.folder.splits.keep"):
        carve_dev_split(_kinds_cohort(10, 10, 5, 5), 0.2, seed=0, group=None, stratify="img_kind")
