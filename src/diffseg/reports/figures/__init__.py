"""The paper's figures regenerated from a run's results (matplotlib, no display needed).

Every plotting function takes data already in memory and returns a `matplotlib.figure.Figure`
of a fixed size in inches, drawn at `DPI`, so a figure's PNG has a predictable pixel size.
`panels` draws the image grids (Fig. 2-5, CRF), `charts` the statistics (Table 1, Dice per
step, GED, training loss), `tables` the metric tables as an HTML page for the report.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from diffseg.runtime.atomic import atomic_path

DPI = 100
# Ground-truth outline colour: readable on black and white masks and on skin tones alike.
TRUTH_COLOUR = "#00c853"


def new_figure(width: float, height: float) -> Figure:
    """A figure of `width × height` inches with constrained layout, not tied to any GUI backend."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save_figure(figure: Figure, path: str | os.PathLike) -> None:
    """Write `figure` as PNG at `DPI`, atomically; the pixel size is exactly figsize × DPI."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)


def show_image(ax: Axes, image: np.ndarray, **kwargs) -> None:
    """An image without ticks, nearest-neighbour so model pixels stay visible."""
    ax.imshow(image, interpolation="nearest", **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])


def outline_truth(ax: Axes, truth: np.ndarray | None) -> None:
    """Draw the ground-truth lesion contour (level 0.5 of the mask) over what `ax` shows."""
    if truth is not None and np.any(truth) and not np.all(truth):
        ax.contour(np.asarray(truth, dtype=float), levels=[0.5], colors=TRUTH_COLOUR, linewidths=1.2)
