"""Image panels: Fig. 2 (noise difference), Fig. 3 (masks across steps), Fig. 4/5 (regions), CRF.

Each figure has one row per example image. `read_*` functions gather the rows from a shard of the
run and the prepared store; the `*_panel` functions only draw.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from diffseg.data.cohort import LABEL_WORDS
from diffseg.data.maps import open_shard
from diffseg.data.store import ImageStore
from diffseg.evaluation.metrics import segmentation_scores
from diffseg.method.regions import AMBIGUOUS_RGB, CONSISTENT_RGB, region_overlay
from diffseg.reports.figures import TRUTH_COLOUR, new_figure, outline_truth, show_image
from diffseg.runtime.errors import BadInputError

CLASS_NAMES = {**{label: word for word, label in LABEL_WORDS.items()}, 2: "null"}
PANEL_INCHES = 1.9  # side of one image panel
# Predicted noise is ~N(0, 1): ±3 sd spans the display range, so its colours are comparable across panels.
NOISE_RANGE = 3.0
MAJORITY = 0.5  # share of steps that makes a pixel lesion in the vote (regions.majority_vote's default)


@dataclass
class Example:
    """One image of the store at model resolution, with its lesion mask when it has one."""

    image_id: str
    image: np.ndarray  # (H, W, 3) uint8
    truth: np.ndarray | None  # (H, W) bool


@dataclass
class NoiseExample(Example):
    eps_a: np.ndarray  # (3, H, W) predicted noise under semantic a
    eps_b: np.ndarray  # (3, H, W) predicted noise under semantic b
    difference: np.ndarray  # (H, W) D_t
    mask: np.ndarray  # (H, W) bool, M_t


@dataclass
class StepsExample(Example):
    masks: np.ndarray  # (S, H, W) bool, one M_t per step


@dataclass
class RegionsExample(Example):
    mean: np.ndarray  # (H, W) share of steps marking lesion
    consistent: np.ndarray  # (H, W) bool
    ambiguous: np.ndarray  # (H, W) bool


@dataclass
class CrfExample(Example):
    mean: np.ndarray  # (H, W) mean mask, the CRF's unary
    posterior: np.ndarray  # (H, W) CRF lesion probability
    labels: np.ndarray  # (H, W) bool, the fused mask


def noise_difference_panel(examples: list[NoiseExample], step: int, semantics: tuple[int, int]) -> Figure:
    """Fig. 2: image, ε under each semantic, the difference D_t and the mask M_t, one row per image."""
    name_a, name_b = (CLASS_NAMES.get(int(c), str(c)) for c in semantics)
    titles = ["image", f"ε(x_t, t, {name_a})", f"ε(x_t, t, {name_b})", "difference D_t", "mask M_t"]
    figure, axes = _grid(len(examples), len(titles), f"Diffusion difference at t = {step}")
    for row, example in zip(axes, examples, strict=True):
        show_image(row[0], example.image)
        row[0].set_ylabel(example.image_id, fontsize=8)
        show_image(row[1], noise_rgb(example.eps_a))
        show_image(row[2], noise_rgb(example.eps_b))
        show_image(row[3], normalised(example.difference), cmap="gray", vmin=0, vmax=1)
        show_image(row[4], example.mask, cmap="gray", vmin=0, vmax=1)
        outline_truth(row[4], example.truth)
    _column_titles(axes, titles)
    return figure


def steps_panel(examples: list[StepsExample], steps) -> Figure:
    """Fig. 3: the masks M_t of each image across the steps, each with the ground-truth contour."""
    titles = ["image"] + [f"t = {int(step)}" for step in steps]
    figure, axes = _grid(len(examples), len(titles), "Segmentation per noise-addition step", scale=0.75)
    for row, example in zip(axes, examples, strict=True):
        show_image(row[0], example.image)
        outline_truth(row[0], example.truth)
        row[0].set_ylabel(example.image_id, fontsize=8)
        for ax, mask in zip(row[1:], example.masks, strict=True):
            show_image(ax, mask, cmap="gray", vmin=0, vmax=1)
            outline_truth(ax, example.truth)
    _column_titles(axes, titles)
    return figure


def regions_panel(examples: list[RegionsExample]) -> Figure:
    """Fig. 4/5: mean mask and the consistent (red) and ambiguous (yellow) regions over the image."""
    titles = ["image", "mean mask (agreement)", "consistent / ambiguous"]
    figure, axes = _grid(len(examples), len(titles), "Consistent and ambiguous regions of the per-step masks")
    for row, example in zip(axes, examples, strict=True):
        show_image(row[0], example.image)
        row[0].set_ylabel(example.image_id, fontsize=8)
        show_image(row[1], example.mean, cmap="magma", vmin=0, vmax=1)
        outline_truth(row[1], example.truth)
        show_image(row[2], region_overlay(example.image, example.consistent, example.ambiguous))
        outline_truth(row[2], example.truth)
    _column_titles(axes, titles)
    figure.legend(handles=_region_legend(), loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    return figure


def crf_panel(examples: list[CrfExample]) -> Figure:
    """The per-step masks before (mean, majority vote) and after DenseCRF fusion (posterior, labels)."""
    titles = ["image", "mean mask (unary)", "majority vote", "CRF posterior", "CRF labels"]
    figure, axes = _grid(len(examples), len(titles), "DenseCRF fusion: before and after")
    for row, example in zip(axes, examples, strict=True):
        vote = majority_vote_of_mean(example.mean)
        show_image(row[0], example.image)
        row[0].set_ylabel(example.image_id, fontsize=8)
        show_image(row[1], example.mean, cmap="magma", vmin=0, vmax=1)
        show_image(row[2], vote, cmap="gray", vmin=0, vmax=1)
        _dice_label(row[2], vote, example.truth)
        show_image(row[3], example.posterior, cmap="magma", vmin=0, vmax=1)
        show_image(row[4], example.labels, cmap="gray", vmin=0, vmax=1)
        _dice_label(row[4], example.labels, example.truth)
        for ax in row[1:]:
            outline_truth(ax, example.truth)
    _column_titles(axes, titles)
    return figure


def noise_rgb(eps: np.ndarray) -> np.ndarray:
    """Predicted noise `(3, H, W)` as a displayable `(H, W, 3)` image in [0, 1] (±NOISE_RANGE sd)."""
    rgb = np.moveaxis(np.asarray(eps, dtype=np.float32), 0, -1)
    return np.clip((rgb + NOISE_RANGE) / (2 * NOISE_RANGE), 0.0, 1.0)


def normalised(values: np.ndarray) -> np.ndarray:
    """`values` min-max scaled to [0, 1] (all zeros when constant), as D_t is before binarising."""
    values = np.asarray(values, dtype=np.float32)
    span = float(values.max() - values.min()) if values.size else 0.0
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def majority_vote_of_mean(mean: np.ndarray) -> np.ndarray:
    """The majority vote from a stored mean mask: the `≥ 0.5` rule of `regions.majority_vote` (ties vote lesion)."""
    return np.asarray(mean, dtype=np.float32) >= MAJORITY


def read_noise_examples(
    diffs_path: str | os.PathLike, masks_path: str | os.PathLike, store: ImageStore,
    count: int = 4, step: int | None = None,
) -> tuple[list[NoiseExample], int, tuple[int, int]]:
    """The examples of a diffs shard at `step` (default: the middle step): (rows, step, semantics)."""
    with open_shard(diffs_path, ("index", "ids", "steps", "diff"), "noise-difference file") as diffs, \
            open_shard(masks_path, ("ids", "masks"), "per-step masks file") as masks:
        steps = [int(s) for s in diffs["steps"][()]]
        step = steps[len(steps) // 2] if step is None else int(step)
        if step not in steps:
            raise BadInputError(diffs_path, f"has no step {step} (steps {steps})")
        s = steps.index(step)
        ids = list(diffs["ids"].asstr()[()])
        if list(masks["ids"].asstr()[()]) != ids:
            raise BadInputError(masks_path, f"holds other images than {diffs_path}")
        kept = [image_id for image_id in diffs.get("examples", {}) if image_id in ids][:count]
        if not kept:
            raise BadInputError(diffs_path, "holds no examples/<id> noise predictions to show")
        rows = []
        for image_id in kept:
            i = ids.index(image_id)
            group = diffs["examples"][image_id]
            rows.append(NoiseExample(
                **store_example(store, int(diffs["index"][i]), image_id),
                eps_a=group["eps_a"][s], eps_b=group["eps_b"][s],
                difference=diffs["diff"][i, s], mask=masks["masks"][i, s].astype(bool),
            ))
        semantics = (int(diffs.attrs["semantic_a"]), int(diffs.attrs["semantic_b"]))
    return rows, step, semantics


def read_steps_examples(masks_path: str | os.PathLike, store: ImageStore, count: int = 1):
    """The first `count` images of a per-step masks shard with all their masks: (rows, steps)."""
    with open_shard(masks_path, ("index", "ids", "steps", "masks"), "per-step masks file") as h5:
        rows = [StepsExample(**store_example(store, position, image_id), masks=masks.astype(bool))
                for position, image_id, masks in _first(h5, count, "masks")]
        return rows, h5["steps"][()]


def read_regions_examples(regions_path: str | os.PathLike, store: ImageStore, count: int = 4):
    """The first `count` images of a regions shard."""
    with open_shard(regions_path, ("index", "ids", "mean", "consistent", "ambiguous"), "regions file") as h5:
        return [
            RegionsExample(**store_example(store, position, image_id), mean=mean.astype(np.float32),
                           consistent=sure.astype(bool), ambiguous=unsure.astype(bool))
            for position, image_id, mean, sure, unsure in _first(h5, count, "mean", "consistent", "ambiguous")
        ]


def read_crf_examples(
    regions_path: str | os.PathLike, crf_path: str | os.PathLike, store: ImageStore, count: int = 4
) -> list[CrfExample]:
    """The first `count` images of a CRF shard with their mean mask from the matching regions shard."""
    with open_shard(regions_path, ("ids", "mean"), "regions file") as regions, \
            open_shard(crf_path, ("index", "ids", "posterior", "labels"), "DenseCRF file") as crf:
        ids = list(regions["ids"].asstr()[()])
        rows = []
        for position, image_id, posterior, labels in _first(crf, count, "posterior", "labels"):
            if image_id not in ids:
                raise BadInputError(regions_path, f"lacks image {image_id} of {crf_path}")
            rows.append(CrfExample(**store_example(store, position, image_id),
                                   mean=regions["mean"][ids.index(image_id)].astype(np.float32),
                                   posterior=posterior.astype(np.float32), labels=labels.astype(bool)))
        return rows


def _first(h5, count: int, *names: str):
    """(position, id, *maps) of the first `count` images of an open shard."""
    n = min(count, len(h5["index"]))
    columns = [h5["index"][:n], h5["ids"].asstr()[:n], *(h5[name][:n] for name in names)]
    return [(int(row[0]), *row[1:]) for row in zip(*columns, strict=True)]


def store_example(store: ImageStore, position: int, image_id: str) -> dict:
    """Image and mask (None without one) of the store image at `position`, checked against `image_id`."""
    if store.ids[position] != image_id:
        raise BadInputError(store.path, f"position {position} is {store.ids[position]}, not {image_id}")
    truth = store.mask(position).astype(bool) if store.has_mask[position] else None
    return {"image_id": image_id, "image": store.image(position), "truth": truth}


def _grid(rows: int, columns: int, title: str, scale: float = 1.0):
    """A figure of `rows × columns` image panels, `axes` always 2-D."""
    if rows < 1:
        raise ValueError("a panel needs at least one example image")
    side = PANEL_INCHES * scale
    figure = new_figure(side * columns, side * rows + 0.6)
    axes = figure.subplots(rows, columns, squeeze=False)
    figure.suptitle(title, fontsize=11)
    return figure, axes


def _column_titles(axes, titles: list[str]) -> None:
    for ax, title in zip(axes[0], titles, strict=True):
        ax.set_title(title, fontsize=9)


def _dice_label(ax, mask: np.ndarray, truth: np.ndarray | None) -> None:
    """`Dice 0.87` against the model-resolution ground truth under the panel (nothing without one)."""
    if truth is not None:
        ax.set_xlabel(f"Dice {segmentation_scores(mask, truth)['dice']:.2f}", fontsize=8)


def _region_legend() -> list[Patch]:
    return [Patch(color=CONSISTENT_RGB / 255, label="consistent (all steps)"),
            Patch(color=AMBIGUOUS_RGB / 255, label="ambiguous (some steps)"),
            Patch(facecolor="none", edgecolor=TRUTH_COLOUR, label="ground truth")]
