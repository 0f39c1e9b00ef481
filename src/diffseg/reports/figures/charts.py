"""Charts of a run's statistics: Table 1, Dice per step, GED, diversity vs Dice, training loss."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from diffseg.evaluation.statistics import spearman
from diffseg.evaluation.table import LABELS, REFERENCE, SHOWN
from diffseg.reports.figures import new_figure
from diffseg.runtime.errors import BadInputError

METRIC_NAMES = {"dice": "Dice", "iou": "IoU", "precision": "Precision", "recall": "Recall",
                "thresholded_jaccard": "Thresholded Jaccard", "specificity": "Specificity",
                "accuracy": "Accuracy"}
UNCERTAINTY_NAMES = {"ged": "GED² (outputs vs ground truth)", "diversity": "diversity E[d(S, S')]"}
# The columns each chart reads from the run's CSV tables.
TABLE1_COLUMNS = ("key", "method", "n", *(f"{m}_{part}" for m in SHOWN for part in ("mean", "ci_low", "ci_high")))
PER_STEP_COLUMNS = ("step", "mean", "ci_low", "ci_high")
GED_COLUMNS = ("id", *UNCERTAINTY_NAMES)
SCORES_COLUMNS = ("id", "method", "dice")
LOSS_COLUMNS = ("step", "loss")


def table1_figure(table: pd.DataFrame, metrics=SHOWN) -> Figure:
    """Table 1 as a forest plot: per metric, each method's mean with its 95 % bootstrap CI."""
    figure = new_figure(2.6 * len(metrics) + 2.2, 0.45 * len(table) + 1.6)
    axes = figure.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    y = np.arange(len(table))[::-1]  # first row of the table on top
    colours = sns.color_palette("colorblind", len(table))
    for ax, metric in zip(axes, metrics, strict=True):
        mean = table[f"{metric}_mean"].to_numpy(dtype=float)
        error = np.abs(np.vstack([mean - table[f"{metric}_ci_low"], table[f"{metric}_ci_high"] - mean]))
        ax.errorbar(mean, y, xerr=error, fmt="none", ecolor="0.4", capsize=3)
        ax.scatter(mean, y, c=colours, zorder=3, s=30)
        ax.set_title(METRIC_NAMES.get(metric, metric), fontsize=10)
        ax.set_xlim(-0.02, 1.02)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, table["method"])
    figure.suptitle(f"Table 1: mean and 95 % CI over {int(table['n'].max())} test images", fontsize=11)
    return figure


def dice_per_step_figure(per_step: pd.DataFrame, table: pd.DataFrame | None = None) -> Figure:
    """Mean Dice per noise-addition step with its CI band; the fused methods of `table` as lines."""
    figure = new_figure(7, 4.2)
    ax = figure.subplots()
    ax.fill_between(per_step["step"], per_step["ci_low"], per_step["ci_high"], alpha=0.3, label="95 % CI")
    ax.plot(per_step["step"], per_step["mean"], marker="o", label="single step M_t")
    if table is not None:
        others = table[~table["key"].eq("best_step")] if "key" in table else table
        for (_, row), colour in zip(others.iterrows(), sns.color_palette("colorblind")[2:], strict=False):
            ax.axhline(row["dice_mean"], linestyle="--", color=colour, label=row["method"])
    ax.set_xlabel("noise-addition step t")
    ax.set_ylabel("Dice (mean over test images)")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(per_step["step"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Dice of the segmentation of each step", fontsize=11)
    return figure


def ged_histogram_figure(ged: pd.DataFrame) -> Figure:
    """Histograms of the per-image GED and sample diversity, each with its mean marked."""
    figure = new_figure(8, 3.6)
    axes = figure.subplots(1, len(UNCERTAINTY_NAMES))
    for ax, (column, name) in zip(axes, UNCERTAINTY_NAMES.items(), strict=True):
        values = ged[column].dropna()
        sns.histplot(values, ax=ax, bins=min(30, max(5, len(values) // 3)), color="C0")
        ax.axvline(values.mean(), color="C3", linestyle="--", label=f"mean {values.mean():.3f}")
        ax.set_xlabel(name)
        ax.legend(fontsize=8)
    figure.suptitle(f"Per-image uncertainty of the per-step masks (n = {len(ged)})", fontsize=11)
    return figure


def diversity_dice_figure(ged: pd.DataFrame, scores: pd.DataFrame, method: str = REFERENCE) -> Figure:
    """Per-image sample diversity against the Dice of `method`, with Spearman's rho."""
    joined = scores.loc[scores["method"] == method, ["id", "dice"]].merge(ged[["id", "diversity"]], on="id")
    if joined.empty:
        raise ValueError(f"no image has both a GED diversity and a Dice of method {method!r}")
    rho, p, n = spearman(joined["diversity"], joined["dice"])
    figure = new_figure(5.5, 4.5)
    ax = figure.subplots()
    sns.regplot(data=joined, x="diversity", y="dice", ax=ax, scatter_kws={"s": 18, "alpha": 0.7},
                line_kws={"color": "C3"}, ci=None)
    ax.set_xlabel("GED diversity E[d(S, S')] of the per-step masks")
    ax.set_ylabel(f"Dice of {LABELS.get(method, method)}")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(f"Spearman ρ = {rho:.2f} (p = {p:.2g}, n = {n})", fontsize=10)
    return figure


def loss_figure(loss: pd.DataFrame) -> Figure:
    """The DDPM's training loss per step (faint) and its running mean, on a log scale."""
    window = max(1, len(loss) // 50)
    figure = new_figure(7, 4)
    ax = figure.subplots()
    ax.plot(loss["step"], loss["loss"], alpha=0.3, linewidth=0.8, label="per step")
    ax.plot(loss["step"], loss["loss"].rolling(window, min_periods=1).mean(), label=f"running mean ({window})")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("noise-prediction MSE")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title("DDPM training loss", fontsize=11)
    return figure


def read_table(path: str | os.PathLike, columns, dtype=None) -> pd.DataFrame:
    """A CSV of the run (`dtype`: as for `pandas.read_csv`, e.g. `{"id": str}` where ids are matched
    against the store's); a BadInputError names it when unreadable or lacking one of `columns`."""
    try:
        frame = pd.read_csv(path, dtype=dtype)
    except (OSError, ValueError) as error:
        raise BadInputError(path, f"not a readable CSV table ({error})") from error
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise BadInputError(path, f"lacks column(s) {', '.join(missing)}")
    return frame
