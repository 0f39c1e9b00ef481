"""Pseudo-labels for the student (diffseg.evaluation.student): which images and masks it learns from.

The student is the supervised baseline's U-Net trained on a teacher's own masks (self-training). Its
teacher is DiffSeg + DenseCRF, whose fused masks of images the evaluation never scores (the training
split's lesion images and unlabelled cohorts; config `student`) are its pseudo-labels. No pixel label
is read: the training split's masks stay unopened, and its images join under the same rule as an
unlabelled folder (`pseudo_label_cohort`).

Pseudo-labels are chosen by the teacher's own uncertainty (`select_pseudo_labels`): the masks the
review page would flag (empty, or covering the frame) and the most uncertain share of the rest are
left out. Zoomed views of the most confident ones (`zoomed_views`) add images whose lesion fills
most of the frame with a mask that is right, the lesions DiffSeg's vote gets wrong.

The control is the same student trained on the fair training-free control's masks (Otsu's mask
fused by the same DenseCRF), filtered alike by that teacher's own uncertainty, so that what the
DiffSeg student gains over it is the diffusion maps', not self-training's.

An uncertainty that needs no per-step masks (`mask_uncertainty`, the control's and the student's own)
is the GED diversity of a map's masks at three levels, and under four flips for the student: a
multi-annotator sample of the network itself, as the per-step masks are of DiffSeg.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from diffseg.data.cohort import COHORT_COLUMNS
from diffseg.data.images import resize_mask, resize_rgb
from diffseg.data.maps import read_maps
from diffseg.method.ged import ged_diversity
from diffseg.runtime.errors import ConfigError, require_positive_integers

# The two teachers: DiffSeg + DenseCRF, and the fair training-free control.
TEACHERS = ("diffseg", "otsu_crf")
# Table 1's row of the student of each teacher (diffseg.evaluation.table.LABELS).
STUDENT_METHODS = {"diffseg": "diffseg_student", "otsu_crf": "otsu_crf_student"}
# A mask covering this share of the frame is a failure the review page flags (reports.annotation).
COVERS_FRAME = 0.9
# Why a pseudo-label is left out: a copy of an image a table scores (development, test, cross-dataset),
# or the teacher's mask fails the rules below.
HELD_OUT_COPY = "copy of a scored image"
LEFT_OUT = (HELD_OUT_COPY, "empty", "covers frame", "uncertain")
# Two images are one photograph (resized, squashed, re-encoded, colour-shifted) when their detail,
# the grey levels less a 4-px Gaussian blur at the store's resolution, correlates at least this much.
# On ISIC 2017 at 64 px: the two unlabelled copies of validation images 0.994 and 0.995, the four of
# training images 0.996-0.999; the closest two distinct photographs 0.957 (one lesion shot twice).
COPY_CORRELATION = 0.98
DETAIL_SIGMA = 4.0
PSEUDO_LABEL_COLUMNS = ("id", "cohort", "uncertainty", "area", "kept", "reason", "zoomed")
# The levels a map is labelled at for its uncertainty.
UNCERTAINTY_LEVELS = (0.3, 0.5, 0.7)


@dataclass(frozen=True)
class StudentSettings:
    """The schema's `student` section, but for which cohorts are pseudo-labelled."""

    enabled: bool = False
    drop_uncertain: float = 0.2
    zoom_views: int = 1
    zoom_share: float = 0.5
    max_images: int = 1000
    seed: int = 0

    def __post_init__(self):
        if not 0 <= self.drop_uncertain < 1:
            raise ConfigError(f"student.drop_uncertain must be in [0, 1), got {self.drop_uncertain!r}")
        if not 0 < self.zoom_share <= 1:
            raise ConfigError(f"student.zoom_share must be in (0, 1], got {self.zoom_share!r}")
        require_positive_integers("student", self, ("max_images",))
        if self.zoom_views < 0:
            raise ConfigError(f"student.zoom_views must be ≥ 0, got {self.zoom_views!r}")

    @classmethod
    def from_section(cls, section: dict) -> StudentSettings:
        return cls(**{key: value for key, value in section.items() if key != "cohorts"})


def pseudo_label_cohort(images: pd.DataFrame, max_images: int, seed: int) -> pd.DataFrame:
    """The cohort table (diffseg.data.cohort) of the images to pseudo-label, from `images` (columns
    id, image_path): at most `max_images` of them, a seeded sample in their own order, each a lesion
    image without a mask in the split the per-shard rules segment (`test`)."""
    images = images[["id", "image_path"]].reset_index(drop=True)
    if len(images) > max_images:
        keep = np.sort(np.random.default_rng(seed).choice(len(images), size=max_images, replace=False))
        images = images.iloc[keep].reset_index(drop=True)
    return images.assign(mask_path="", label=1, split="test")[list(COHORT_COLUMNS)]


def read_pseudo_labels(
    store, fused_paths, ged_paths=None, cohort: str = ""
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """One cohort's pseudo-labels: a table (id, cohort, uncertainty, area) with the images `(n, S, S, 3)`
    of `store` (an ImageStore) and their masks `(n, S, S)`, the teacher's fused `labels` in
    `fused_paths` (maps files, one per shard). The uncertainty is the GED diversity of each image's
    per-step masks in `ged_paths` (tables of diffseg.method.ged, one per shard) when given, else the
    `mask_uncertainty` of the fused `posterior`."""
    tables, images, masks = [], [], []
    for path in fused_paths:
        fused = read_maps(path, "labels", "posterior")
        labels = fused["labels"].astype(bool)
        tables.append(pd.DataFrame({
            "id": fused["ids"].astype(str),
            "cohort": cohort,
            # The control's own uncertainty; DiffSeg's is its GED diversity, read below instead.
            "uncertainty": mask_uncertainty(fused["posterior"].astype(np.float32)) if ged_paths is None else np.nan,
            "area": labels.reshape(len(labels), -1).mean(axis=1) if len(labels) else [],
        }))
        images.append(store.images(fused["index"]) if len(labels) else np.empty((0, *labels.shape[1:], 3), np.uint8))
        masks.append(labels)
    table = pd.concat(tables, ignore_index=True)
    if ged_paths is not None:
        ged = pd.concat([pd.read_csv(p, dtype={"id": str}) for p in ged_paths], ignore_index=True)
        diversity = table[["id"]].merge(ged[["id", "diversity"]], on="id", how="left")["diversity"]
        if diversity.isna().any():
            missing = table.loc[diversity.isna().to_numpy(), "id"].tolist()[:5]
            raise ValueError(f"{cohort}: no GED diversity for {missing} in the GED tables")
        table["uncertainty"] = diversity.to_numpy()
    return table, np.concatenate(images), np.concatenate(masks)


def detail_signatures(images: np.ndarray) -> np.ndarray:
    """Per image of `images` `(N, S, S, 3)`: its detail (grey levels less a Gaussian blur of
    `DETAIL_SIGMA` px) as a unit vector of zero mean `(N, S·S)`, so that a dot product is a correlation
    that ignores brightness, contrast and the smooth lesion-on-skin shape every dermoscopy image shares."""
    grey = np.asarray(images, dtype=np.float32).mean(axis=-1)
    detail = grey - ndimage.gaussian_filter(grey, (0, DETAIL_SIGMA, DETAIL_SIGMA))
    flat = detail.reshape(len(detail), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    return flat / (np.linalg.norm(flat, axis=1, keepdims=True) + 1e-9)


def scored_copies(ids, images: np.ndarray, scored_ids, scored_images: np.ndarray,
                  min_correlation: float = COPY_CORRELATION) -> pd.DataFrame:
    """The images of `ids` that are copies of a scored image (`detail_signatures` correlating at least
    `min_correlation`): columns id, copy_of, correlation, one row each, its closest scored image."""
    columns = ["id", "copy_of", "correlation"]
    if not len(ids) or not len(scored_ids):
        return pd.DataFrame(columns=columns)
    correlation = detail_signatures(images) @ detail_signatures(scored_images).T
    closest = correlation.argmax(axis=1)
    best = correlation[np.arange(len(ids)), closest]
    copies = np.flatnonzero(best >= min_correlation)
    return pd.DataFrame({"id": np.asarray(ids, dtype=object)[copies],
                         "copy_of": np.asarray(scored_ids, dtype=object)[closest[copies]],
                         "correlation": best[copies]}, columns=columns)


def select_pseudo_labels(table: pd.DataFrame, settings: StudentSettings, copies=()) -> pd.DataFrame:
    """`table` (columns id, cohort, uncertainty, area: the mask's share of the frame) with `kept`,
    `reason` (why one is left out: a copy of a scored image, its id in `copies`; `empty`; `covers frame`;
    `uncertain`) and `zoomed` (a kept one among the `zoom_share` most confident, whose zoomed views
    join the training set).

    The uncertain cutoff is the (1 − drop_uncertain) quantile of the masks that are neither empty nor
    frame-covering, so the share left out for uncertainty is that of the plausible masks.
    """
    table = table.copy()
    reason = np.full(len(table), "", dtype=object)
    area = table["area"].to_numpy(dtype=float)
    uncertainty = table["uncertainty"].to_numpy(dtype=float)
    reason[area <= 0] = "empty"
    reason[area >= COVERS_FRAME] = "covers frame"
    reason[table["id"].isin(list(copies)).to_numpy()] = HELD_OUT_COPY
    plausible = reason == ""
    if settings.drop_uncertain and plausible.any():
        cutoff = np.quantile(uncertainty[plausible], 1 - settings.drop_uncertain)
        reason[plausible & (uncertainty > cutoff)] = "uncertain"
    kept = reason == ""
    zoomed = np.zeros(len(table), dtype=bool)
    if kept.any() and settings.zoom_views:
        confident = np.quantile(uncertainty[kept], settings.zoom_share)
        zoomed = kept & (uncertainty <= confident)
    table["kept"], table["reason"], table["zoomed"] = kept, reason, zoomed
    return table[list(PSEUDO_LABEL_COLUMNS)]


def zoomed_view(image: np.ndarray, mask: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The square crop of `image` `(S, S, 3)` and `mask` `(S, S)` centred on the mask's bounding box,
    `scale` times its longer side (at least 8 px, at most the frame), resized back to S: at a scale
    near 1 the lesion fills the view and touches its borders, as a large lesion does its photograph."""
    size = image.shape[0]
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        raise ValueError("an empty mask has no lesion to zoom on")
    side = int(np.clip(round(scale * max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)), 8, size))
    centre = ((rows[0] + rows[-1] + 1) / 2, (cols[0] + cols[-1] + 1) / 2)
    top, left = (int(np.clip(round(c - side / 2), 0, size - side)) for c in centre)
    crop = (slice(top, top + side), slice(left, left + side))
    return resize_rgb(image[crop], size), resize_mask(mask[crop], size)


def zoomed_views(
    images: np.ndarray, masks: np.ndarray, per_image: int, seed: int, scales: tuple[float, float] = (0.7, 1.2)
) -> tuple[np.ndarray, np.ndarray]:
    """`per_image` zoomed views (`zoomed_view`) of every image, each at a seeded scale drawn uniformly
    from `scales`: `(len(images) · per_image, S, S, 3)` uint8 images and bool masks."""
    rng = np.random.default_rng(seed)
    views = [
        zoomed_view(image, mask, rng.uniform(*scales))
        for image, mask in zip(images, masks, strict=True)
        for _ in range(per_image)
    ]
    if not views:
        size = images.shape[1] if np.ndim(images) == 4 else 0
        return np.empty((0, size, size, 3), np.uint8), np.empty((0, size, size), bool)
    return np.stack([v[0] for v in views]), np.stack([v[1] for v in views]).astype(bool)


def level_masks(probabilities: np.ndarray, levels=UNCERTAINTY_LEVELS) -> np.ndarray:
    """The masks of probability maps `probabilities` `(F, N, H, W)` (F maps of each image, one per flip)
    labelled at each of `levels`, as one sample per image: `(N, L·F, H, W)` bool, level-major."""
    p = np.asarray(probabilities, dtype=np.float32)
    if p.ndim == 3:
        p = p[None]
    masks = np.stack([p > level for level in levels])  # (L, F, N, H, W)
    return masks.reshape(-1, *p.shape[1:]).transpose(1, 0, 2, 3)


def mask_uncertainty(probabilities: np.ndarray, levels=UNCERTAINTY_LEVELS) -> np.ndarray:
    """Per image: the GED diversity (diffseg.method.ged, mean 1 − IoU over all pairs) of its
    `level_masks` (`probabilities` `(F, N, H, W)` or `(N, H, W)`). 0 when the maps are certain and
    agree; it grows with the pixels whose label hangs on the flip or the level, against the mask's own
    area (IoU), so a small lesion's wavering edge counts as much as a large one's. A map the network
    is sure holds no lesion (no pixel above any level) gives 0."""
    return np.array([ged_diversity(stack) for stack in level_masks(probabilities, levels)])


def pseudo_label_counts(table: pd.DataFrame, zoom_views: int) -> pd.DataFrame:
    """Per cohort of a student's pseudo-label table (`select_pseudo_labels`'s): how many images it had,
    how many trained the student, how many each reason left out, and the zoomed views added."""
    rows = []
    for cohort, rows_of in table.groupby("cohort", sort=False):
        reasons = rows_of["reason"].fillna("").value_counts()
        rows.append({"cohort": cohort, "images": len(rows_of), "kept": int(rows_of["kept"].sum()),
                     **{reason: int(reasons.get(reason, 0)) for reason in LEFT_OUT},
                     "zoomed_views": int(rows_of["zoomed"].sum()) * zoom_views})
    return pd.DataFrame(rows, columns=["cohort", "images", "kept", *LEFT_OUT, "zoomed_views"])
