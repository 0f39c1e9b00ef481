"""The authors' reading of the two semantics (PAPER.md §7): one DDPM per semantic.

Our default is one class-conditional network (healthy / lesion / null). The authors' code trains two
networks instead, one on lesion images and one on healthy skin, each on its own t range, and
compares their predicted noises. `SemanticPair` routes each row of a batch to the network of its
label, so extraction and annotation run either reading unchanged; `train_pair` trains the two with
the same loop (and the same resumable checkpoints) as the conditional model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from diffusers.models.unets.unet_2d import UNet2DOutput

from diffseg.atomic import atomic_dir, write_csv
from diffseg.errors import BadInputError, ConfigError
from diffseg.model import SEMANTICS
from diffseg.train import TrainSettings, train_ddpm

# Marks a saved pair: {"semantics": [names]}; each name is a sub-folder saved by `save_model`.
PAIR_FILE = "semantic_pair.json"


class SemanticPair(torch.nn.Module):
    """Two (or more) single-semantic networks behind the class-conditional call signature."""

    def __init__(self, networks: Mapping[str, torch.nn.Module]):
        super().__init__()
        self.networks = torch.nn.ModuleDict(dict(networks))
        # Same architecture for every semantic; callers read sample_size and channel widths here.
        self.config = next(iter(self.networks.values())).config

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor) -> UNet2DOutput:
        routed = torch.zeros(len(x_t), dtype=torch.bool, device=x_t.device)
        sample = None
        for name, network in self.networks.items():
            rows = class_labels == SEMANTICS[name]
            if not rows.any():
                continue
            predicted = network(x_t[rows], t[rows], class_labels=class_labels[rows]).sample
            if sample is None:  # the dtype autocast chose
                sample = torch.empty(x_t.shape, dtype=predicted.dtype, device=x_t.device)
            sample[rows] = predicted
            routed |= rows
        if not routed.all():
            missing = sorted({int(c) for c in class_labels[~routed]})
            names = [name for name, code in SEMANTICS.items() if code in missing]
            raise ConfigError(
                f"semantics.model is pair, which has networks for {sorted(self.networks)} only, "
                f"not for {names}; set semantics.a and semantics.b to healthy and lesion"
            )
        return UNet2DOutput(sample=sample)


def is_pair(directory: str | os.PathLike) -> bool:
    return (Path(directory) / PAIR_FILE).is_file()


def load_pair(directory: str | os.PathLike, load_network) -> SemanticPair:
    """The pair saved in `directory`; `load_network(sub_folder)` loads (and checks) each network."""
    path = Path(directory) / PAIR_FILE
    try:
        names = json.loads(path.read_text(encoding="utf-8"))["semantics"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BadInputError(path, f"unreadable ({error}); delete the folder to retrain") from error
    return SemanticPair({name: load_network(Path(directory) / name) for name in names})


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
        (tmp / PAIR_FILE).write_text(json.dumps({"semantics": list(images)}), encoding="utf-8")
    table = pd.DataFrame({f"loss_{name}": values for name, values in losses.items()})
    table.insert(0, "loss", table.mean(axis=1))
    table.insert(0, "step", np.arange(1, len(table) + 1))
    write_csv(table, loss_csv)
    return losses
