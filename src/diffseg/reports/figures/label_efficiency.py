"""The label-efficiency curve: the U-Net's Dice against the number of training masks (log scale),
with the rows trained without masks (DiffSeg's and their controls') as horizontal bands
(diffseg.evaluation.label_efficiency)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from diffseg.evaluation.label_efficiency import Worth
from diffseg.reports.figures import new_figure

CURVE_COLUMNS = ("masks", "dice_mean", "ci_low", "ci_high")
REFERENCE_COLUMNS = ("key", "method", "dice_mean", "dice_ci_low", "dice_ci_high")
WIDTH, HEIGHT = 7.0, 4.4


def label_efficiency_figure(curve: pd.DataFrame, references: pd.DataFrame, worths: dict[str, Worth]) -> Figure:
    """The curve's points with their 95 % CI, joined in order of masks; each row of `references`
    (Table 1 rows trained without masks: `key`, `method`, Dice and CI) as a horizontal line with its
    CI band; the worth of each (`worths`, by key) as a dotted vertical line of its colour where it lies
    inside the curve."""
    figure = new_figure(WIDTH, HEIGHT)
    ax = figure.subplots()
    masks = curve["masks"].to_numpy(dtype=float)
    mean = curve["dice_mean"].to_numpy(dtype=float)
    error = np.abs(np.vstack([mean - curve["ci_low"].to_numpy(dtype=float), curve["ci_high"].to_numpy(dtype=float) - mean]))
    colours = sns.color_palette("colorblind")
    ax.errorbar(masks, mean, yerr=error, marker="o", capsize=3, color=colours[0], label="Supervised U-Net (95 % CI)")
    for (_, row), colour in zip(references.iterrows(), colours[1:], strict=False):
        ax.axhspan(row["dice_ci_low"], row["dice_ci_high"], color=colour, alpha=0.12)
        ax.axhline(row["dice_mean"], color=colour, linestyle="--", label=f"{row['method']} (0 masks)")
        worth = worths.get(row["key"])
        if worth is not None and math.isfinite(worth.estimate):
            ax.axvline(worth.estimate, color=colour, linestyle=":", label=f"{row['method']}: worth {worth.text()}")
    ax.set_xscale("log")
    ax.set_xlabel("training masks (log scale)")
    ax.set_ylabel("Dice (mean over the test images)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Label efficiency: the U-Net's Dice against its number of training masks", fontsize=10)
    return figure
