"""Training the DDPM of either reading of the two semantics (docs/method.md §7), on top of `train`.

`conditional` (our default) trains one class-conditional network on lesion and healthy-skin images
together; `pair` (the authors') trains one network per semantic, each with the loop of `train_ddpm`
and its own resumable checkpoint, and saves them as a `semantic_pair`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from diffseg.atomic import atomic_dir, write_csv
from diffseg.errors import ConfigError
from diffseg.logs import log
from diffseg.semantic_pair import save_pair
from diffseg.semantics import HEALTHY, LESION, SEMANTICS
from diffseg.train import TrainSettings, train_ddpm

MODELS = ("conditional", "pair")


def train_semantics(
    lesions: np.ndarray, healthy: np.ndarray, semantics: Mapping, **training
) -> list[float] | dict[str, list[float]]:
    """Train the DDPM of `semantics["model"]` on `lesions` and `healthy` skin `(n, size, size, 3) uint8`.

    `semantics` is the schema's `semantics` section; `training` holds the other arguments of
    `train_ddpm` (workdir, out_dir, loss_csv, settings, preset, size, device). Saves the model to
    `out_dir` and the loss per step to `loss_csv`; returns the losses (one list per network for a pair).
    """
    log.info("training images: %d lesion, %d healthy skin", len(lesions), len(healthy))
    if semantics["model"] == "pair":
        if {semantics["a"], semantics["b"]} != {"healthy", "lesion"}:
            raise ConfigError(
                "semantics.model pair compares the healthy and lesion networks: set a and b to them"
            )
        return train_pair({"lesion": lesions, "healthy": healthy}, t_ranges=semantics["t_ranges"], **training)
    if semantics["model"] != "conditional":
        raise ConfigError(f"semantics.model {semantics['model']!r} is not one of {MODELS}")
    images = np.concatenate([lesions, healthy])
    labels = np.repeat([LESION, HEALTHY], [len(lesions), len(healthy)])
    return train_ddpm(images, labels, **training)


def train_pair(
    images: Mapping[str, np.ndarray],
    workdir: str | os.PathLike,
    out_dir: str | os.PathLike,
    loss_csv: str | os.PathLike,
    settings: TrainSettings,
    t_ranges: Mapping[str, tuple[int, int] | list[int]],
    preset: str,
    size: int,
    device: torch.device | str = "cpu",
) -> dict[str, list[float]]:
    """Train one network per semantic on its `images[name]` (each for `settings.steps`).

    Each network has its own checkpoint under `workdir/<name>`, so a killed run resumes the one it
    was training. `t_ranges[name]` = [t_min, t_max) replaces the settings' range for that network
    (the authors: lesion [199, 1000), healthy [50, 60)). The loss CSV holds the mean of the two
    losses per step and one column per network.
    """
    losses = {}
    for name, semantic_images in images.items():
        t_min, t_max = t_ranges.get(name) or (settings.t_min, settings.t_max)
        own = dataclasses.replace(settings, t_min=t_min, t_max=t_max)
        folder = Path(workdir) / name
        losses[name] = train_ddpm(
            semantic_images,
            np.full(len(semantic_images), SEMANTICS[name]),
            workdir=folder,
            out_dir=folder / "ema",
            loss_csv=folder / "loss.csv",
            settings=own,
            preset=preset,
            size=size,
            device=device,
        )
    with atomic_dir(out_dir) as tmp:
        for name in images:
            shutil.copytree(Path(workdir) / name / "ema", tmp / name)
        save_pair(tmp, list(images))
    table = pd.DataFrame({f"loss_{name}": values for name, values in losses.items()})
    table.insert(0, "loss", table.mean(axis=1))
    table.insert(0, "step", np.arange(1, len(table) + 1))
    write_csv(table, loss_csv)
    return losses
