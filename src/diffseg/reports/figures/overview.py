"""The README's overview figure: what DiffSeg gives for a few test images, from its best to its worst.

Per row: the image; the consistent (red) and ambiguous (yellow) regions of the per-step masks; and
the fused DiffSeg + DenseCRF mask outlined in cyan (the annotation overlays' colour) against the
expert's mask outlined in green (the other figures' ground truth), with the image's Dice.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from diffseg.evaluation.table import REFERENCE
from diffseg.method.regions import AMBIGUOUS_RGB, CONSISTENT_RGB, region_overlay
from diffseg.reports.annotation import OUTLINE_RGB
from diffseg.reports.figures import TRUTH_COLOUR, new_figure, outline_truth, show_image
from diffseg.reports.figures.shard_maps import ShardMaps

OVERVIEW_IMAGES = 4
# Larger panels than the paper's figures: the README shows this one at full width.
OVERVIEW_PANEL_INCHES = 2.6
FUSED_COLOUR = tuple(OUTLINE_RGB / 255)
TITLES = ("image", "consistent / ambiguous regions", "fused mask vs expert mask")


def spread_by_dice(scores: pd.DataFrame, count: int = OVERVIEW_IMAGES, method: str = REFERENCE) -> list[str]:
    """`count` test images of `method` spread evenly over its Dice ranking, best first (ties by id),
    so the figure shows a typical result and a failure alike; all of them when there are fewer."""
    ranked = scores.loc[scores["method"] == method].sort_values(["dice", "id"], ascending=[False, True])
    if ranked.empty:
        raise ValueError(f"no test image has a Dice of method {method!r}")
    picks = np.unique(np.round(np.linspace(0, len(ranked) - 1, min(count, len(ranked)))).astype(int))
    return [str(image_id) for image_id in ranked["id"].iloc[picks]]


def overview_figure(rows: list[ShardMaps], dice: Mapping[str, float]) -> Figure:
    """The overview: a row per image of `rows`, its Dice (`dice[id]`, at original resolution) beneath."""
    if not rows:
        raise ValueError("the overview needs at least one test image")
    side = OVERVIEW_PANEL_INCHES
    figure = new_figure(side * len(TITLES), side * len(rows) + 1.0)
    axes = figure.subplots(len(rows), len(TITLES), squeeze=False)
    figure.suptitle("DiffSeg on test images: segmentation and its uncertainty", fontsize=12)
    for row, maps in zip(axes, rows, strict=True):
        show_image(row[0], maps.image)
        row[0].set_ylabel(maps.image_id, fontsize=8)
        show_image(row[1], region_overlay(maps.image, maps.consistent, maps.ambiguous))
        show_image(row[2], maps.image)
        if maps.labels.any() and not maps.labels.all():  # a constant mask has no outline to draw
            row[2].contour(maps.labels.astype(float), levels=[0.5], colors=[FUSED_COLOUR], linewidths=1.6)
        outline_truth(row[2], maps.truth)
        row[2].set_xlabel(f"Dice {dice[maps.image_id]:.2f}", fontsize=9)
    for ax, title in zip(axes[0], TITLES, strict=True):
        ax.set_title(title, fontsize=9)
    figure.legend(handles=_legend(), loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    return figure


def _legend() -> list:
    return [Patch(color=CONSISTENT_RGB / 255, label="consistent (every step)"),
            Patch(color=AMBIGUOUS_RGB / 255, label="ambiguous (some steps)"),
            Line2D([], [], color=FUSED_COLOUR, label="DiffSeg + DenseCRF mask"),
            Line2D([], [], color=TRUTH_COLOUR, label="expert mask")]
