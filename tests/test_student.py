"""The student (self-training): which pseudo-labels it learns from, its zoomed views, and that a U-Net
trained only on a teacher's masks segments new images, with an uncertainty that tracks its error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import ndimage

from diffseg.data.maps import write_maps
from diffseg.evaluation.metrics import segmentation_scores
from diffseg.evaluation.pseudo_labels import (
    StudentSettings,
    mask_uncertainty,
    pseudo_label_cohort,
    read_pseudo_labels,
    scored_copies,
    select_pseudo_labels,
    zoomed_view,
    zoomed_views,
)
from diffseg.evaluation.student import predict_student
from diffseg.evaluation.table import LABELS, student_summary, table1
from diffseg.evaluation.unet_baseline import UNetSettings, train_unet
from diffseg.runtime.errors import ConfigError
from tests.test_unet import dark_blobs

CPU = torch.device("cpu")


def test_pseudo_label_cohort_is_a_seeded_capped_sample_of_maskless_lesion_images():
    images = pd.DataFrame({"id": [f"img{i:02d}" for i in range(30)], "image_path": [f"/x/{i}.jpg" for i in range(30)]})
    cohort = pseudo_label_cohort(images, 10, seed=1)
    assert len(cohort) == 10 and list(cohort["id"]) == sorted(cohort["id"])
    assert (cohort["mask_path"] == "").all() and (cohort["label"] == 1).all() and (cohort["split"] == "test").all()
    assert cohort.equals(pseudo_label_cohort(images, 10, seed=1))
    assert not cohort.equals(pseudo_label_cohort(images, 10, seed=2))
    assert len(pseudo_label_cohort(images, 100, seed=1)) == 30


def test_failures_and_the_most_uncertain_share_are_left_out():
    table = pd.DataFrame({
        "id": [f"i{i}" for i in range(12)], "cohort": "train",
        "uncertainty": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.5, 0.0, 0.0],
        "area": [0.2] * 10 + [0.0, 0.95],
    })
    chosen = select_pseudo_labels(table, StudentSettings(drop_uncertain=0.2, zoom_share=0.5))
    reasons = dict(zip(chosen["id"], chosen["reason"], strict=True))
    assert reasons["i10"] == "empty" and reasons["i11"] == "covers frame"
    # Of the 10 plausible masks, the 2 most uncertain are left out.
    assert sorted(i for i, r in reasons.items() if r == "uncertain") == ["i8", "i9"]
    assert chosen["kept"].sum() == 8
    # Zoomed views come from the more confident half of the kept ones only.
    assert set(chosen.loc[chosen["zoomed"], "id"]) == {"i0", "i1", "i2", "i3"}
    everything = select_pseudo_labels(table, StudentSettings(drop_uncertain=0, zoom_views=0))
    assert everything["kept"].sum() == 10 and not everything["zoomed"].any()


def test_a_copy_of_a_scored_image_is_found_however_squashed_or_shifted_in_colour():
    # Skin texture a few pixels across (pixel noise would not survive a thumbnail, nor does a skin's).
    rng = np.random.default_rng(8)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, (6, 64, 64)), (0, 1.5, 1.5))
    images = np.clip(170 + 400 * texture[..., None] * [1, 0.9, 0.8], 0, 255).astype(np.uint8)
    scored_ids, scored = ["val0", "val1", "val2"], images[:3]
    # A thumbnail of val1: shrunk, brightened, warmer, stretched back to the store's size.
    thumb = np.asarray(Image.fromarray(images[1]).resize((48, 40)).resize((64, 64)), dtype=np.float32)
    copy = np.clip(thumb * [1.1, 1.0, 0.9] + 12, 0, 255).astype(np.uint8)
    cohort = np.stack([copy, images[3], images[4]])
    found = scored_copies(["u0", "u1", "u2"], cohort, scored_ids, scored)
    assert found[["id", "copy_of"]].values.tolist() == [["u0", "val1"]] and found["correlation"].item() > 0.98
    assert scored_copies([], cohort[:0], scored_ids, scored).empty


def test_copies_of_scored_images_never_teach():
    table = pd.DataFrame({"id": ["a", "b", "c"], "cohort": "unlabelled", "uncertainty": [0.1, 0.2, 0.3], "area": 0.2})
    chosen = select_pseudo_labels(table, StudentSettings(drop_uncertain=0), copies=["b"])
    assert chosen["kept"].tolist() == [True, False, True] and chosen["reason"].tolist()[1] == "copy of a scored image"


def test_settings_out_of_range_are_refused():
    with pytest.raises(ConfigError, match="drop_uncertain"):
        StudentSettings(drop_uncertain=1.0)
    with pytest.raises(ConfigError, match="zoom_share"):
        StudentSettings(zoom_share=0)
    assert StudentSettings.from_section({"enabled": True, "cohorts": {"u": "/x"}, "seed": 3}).seed == 3


def test_a_zoomed_view_makes_a_small_lesion_fill_the_frame():
    rows, cols = np.indices((64, 64))
    masks = ((rows - 20) ** 2 + (cols - 40) ** 2 <= 36)[None]
    images = np.where(masks[..., None], 90, 200).astype(np.uint8).repeat(3, axis=-1)  # a dark disc
    image, mask = zoomed_view(images[0], masks[0], scale=0.9)
    assert image.shape == (64, 64, 3) and mask.shape == (64, 64) and mask.dtype == bool
    assert masks[0].mean() < 0.1 and mask.mean() > 0.6
    # Cut by the frame on every side, as a lesion larger than its photograph.
    assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any()
    # The lesion's pixels stay dark in the view: image and mask are cut alike.
    assert image[mask].mean() < image[~mask].mean() - 40
    with pytest.raises(ValueError, match="empty"):
        zoomed_view(images[0], np.zeros((64, 64), bool), 1.0)
    views, view_masks = zoomed_views(images, masks, per_image=3, seed=0)
    assert views.shape == (3, 64, 64, 3) and view_masks.shape == (3, 64, 64)
    assert zoomed_views(images[:0], masks[:0], per_image=3, seed=0)[0].shape == (0, 64, 64, 3)


def test_mask_uncertainty_is_zero_for_certain_maps_and_grows_with_unsure_pixels():
    certain = np.zeros((1, 8, 8), np.float32)
    certain[0, 2:6, 2:6] = 1
    unsure_edge = certain.copy()
    unsure_edge[0, 1:7, 1:7] = np.maximum(unsure_edge[0, 1:7, 1:7], 0.45)  # labelled at 0.3, not at 0.5
    values = mask_uncertainty(np.concatenate([certain, unsure_edge, np.zeros((1, 8, 8))]))
    assert values[0] == 0 and 0 < values[1] < 1 and values[2] == 0
    # Flips that disagree are uncertain even where each map is sure.
    shifted = np.roll(certain, 2, axis=2)
    assert mask_uncertainty(np.stack([certain, shifted]))[0] > 0.3
    assert mask_uncertainty(np.stack([certain, certain]))[0] == 0


class BlobStore:
    """The two methods of an ImageStore that read_pseudo_labels uses, over arrays."""

    def __init__(self, images):
        self._images = images

    def images(self, indices):
        return self._images[np.asarray(indices)]


def test_pseudo_labels_are_read_with_the_teachers_uncertainty(tmp_path):
    images, masks = dark_blobs(6, seed=5)
    posterior = np.where(masks, 0.9, 0.05)
    ring = ndimage.binary_dilation(masks, structure=np.ones((1, 3, 3))) & ~masks
    posterior[:3][ring[:3]] = 0.4  # three masks whose edge hangs on the level
    posterior = posterior.astype(np.float16)
    ids = [f"p{i}" for i in range(6)]
    for shard, rows in enumerate((slice(0, 4), slice(4, 6))):
        index = np.arange(6)[rows]
        write_maps(tmp_path / f"fused-{shard}.h5", index, ids[rows], labels=masks[rows].astype(np.uint8),
                   posterior=posterior[rows])
        pd.DataFrame({"id": ids[rows], "diversity": np.linspace(0.1, 0.2, len(index)), "ged": np.nan}).to_csv(
            tmp_path / f"ged-{shard}.csv", index=False)
    fused = [tmp_path / "fused-0.h5", tmp_path / "fused-1.h5"]
    table, read_images, read_masks = read_pseudo_labels(BlobStore(images), fused, None, "train")
    assert list(table["id"]) == ids and (table["cohort"] == "train").all()
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_masks, masks)
    np.testing.assert_allclose(table["area"], masks.reshape(6, -1).mean(axis=1))
    # Without GED tables, the posterior's own uncertainty.
    assert (table["uncertainty"][:3] > 0).all() and (table["uncertainty"][3:] == 0).all()
    with_ged, _, _ = read_pseudo_labels(BlobStore(images), fused, [tmp_path / "ged-0.csv", tmp_path / "ged-1.csv"])
    np.testing.assert_allclose(with_ged["uncertainty"], [0.1, 0.1333333, 0.1666667, 0.2, 0.1, 0.2], rtol=1e-5)
    with pytest.raises(ValueError, match="no GED diversity"):
        read_pseudo_labels(BlobStore(images), fused, [tmp_path / "ged-0.csv"], "train")


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """A U-Net trained only on a teacher's masks: right on most images, a disc where the teacher
    missed (the pseudo-labels the filter must drop), with zoomed views of the confident ones."""
    torch.set_num_threads(1)
    images, truth = dark_blobs(32, seed=0)
    teacher = truth.copy()
    rows, cols = np.indices(truth.shape[1:])
    teacher[:6] = ((rows - 16) ** 2 + (cols - 16) ** 2 <= 16)[None]  # six wrong pseudo-labels
    uncertainty = np.r_[np.full(6, 0.6), np.linspace(0.05, 0.3, 26)]
    table = pd.DataFrame({"id": [f"s{i}" for i in range(32)], "cohort": "train", "uncertainty": uncertainty,
                          "area": teacher.reshape(32, -1).mean(axis=1)})
    chosen = select_pseudo_labels(table, StudentSettings(drop_uncertain=0.2, zoom_views=1))
    kept, zoomed = chosen["kept"].to_numpy(), chosen["zoomed"].to_numpy()
    views, view_masks = zoomed_views(images[zoomed], teacher[zoomed], 1, seed=0)
    out = tmp_path_factory.mktemp("student") / "model.pt"
    settings = UNetSettings(steps=100, batch_size=8, lr=3e-3, base_channels=8, seed=1)
    train_unet(np.concatenate([images[kept], views]), np.concatenate([teacher[kept], view_masks]), out, settings, CPU)
    return out, chosen


def test_the_filter_drops_the_teachers_wrong_masks(student):
    _, chosen = student
    assert set(chosen.loc[chosen["reason"] == "uncertain", "id"]) >= {f"s{i}" for i in range(6)}


def test_a_student_of_pseudo_labels_segments_new_images_and_knows_where_it_fails(student):
    model, _ = student
    images, truth = dark_blobs(12, seed=7)
    probability, uncertainty = predict_student(model, images, CPU, batch_size=5)
    assert probability.shape == (12, 32, 32) and probability.dtype == np.float32 and uncertainty.shape == (12,)
    dice = [segmentation_scores(p >= 0.5, m)["dice"] for p, m in zip(probability, truth, strict=True)]
    assert np.mean(dice) > 0.8
    # Averaged over the four flips, its prediction of a flipped image is the flipped prediction.
    flipped, _ = predict_student(model, images[:, ::-1].copy(), CPU)
    np.testing.assert_allclose(flipped, probability[:, ::-1], atol=1e-5)
    # Faint lesions, which it segments worse, are the ones it is less sure of.
    faint = images.astype(np.float32)
    for image, mask in zip(faint, truth, strict=True):
        image[mask] = 0.3 * image[mask] + 0.7 * image[~mask].mean(axis=0)
    faint_probability, faint_uncertainty = predict_student(model, faint.astype(np.uint8), CPU)
    faint_dice = [segmentation_scores(p >= 0.5, m)["dice"] for p, m in zip(faint_probability, truth, strict=True)]
    assert np.mean(faint_dice) < np.mean(dice) - 0.1
    assert np.mean(faint_uncertainty) > np.mean(uncertainty)


def student_scores(n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        for method, base in (("diffseg_crf", 0.8), ("otsu_crf", 0.7), ("diffseg_student", 0.85), ("otsu_crf_student", 0.75)):
            dice = float(np.clip(base + rng.normal(0, 0.05), 0, 1))
            uncertainty = 1 - dice + rng.normal(0, 0.01) if method.endswith("student") else np.nan
            rows.append({"id": f"i{i}", "method": method, "dice": dice, "uncertainty": uncertainty,
                         **{m: dice for m in ("iou", "precision", "recall", "specificity", "accuracy", "thresholded_jaccard")}})
    return pd.DataFrame(rows)


def test_students_are_rows_of_table1_and_their_summary_gives_the_uncertainty_correlation():
    scores = student_scores()
    table = table1(scores, n_resamples=100)
    assert list(table["method"]) == [LABELS[k] for k in ("otsu_crf", "otsu_crf_student", "diffseg_crf", "diffseg_student")]
    summary = student_summary(scores, n_resamples=100)
    assert list(summary["key"]) == ["diffseg_student", "otsu_crf_student"]
    assert (summary["rho"] > 0.9).all() and (summary["dice_ci_low"] < summary["dice_mean"]).all()
