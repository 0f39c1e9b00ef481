"""The authors' reading of the two semantics (docs/method.md §7): one DDPM per semantic.

Our default is one class-conditional network (healthy / lesion / null). The authors' code trains two
networks instead, one on lesion images and one on healthy skin, each on its own t range, and
compares their predicted noises. `SemanticPair` routes each row of a batch to the network of its
label, so extraction and annotation run either reading unchanged; `semantic_training.train_pair`
trains the two with the same loop (and the same resumable checkpoints) as the conditional model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from diffusers.models.unets.unet_2d import UNet2DOutput

from diffseg.errors import BadInputError, ConfigError
from diffseg.semantics import SEMANTICS

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


def save_pair(directory: str | os.PathLike, names: list[str]) -> None:
    """Mark `directory` as a pair whose networks are its sub-folders `names` (already saved there)."""
    (Path(directory) / PAIR_FILE).write_text(json.dumps({"semantics": list(names)}), encoding="utf-8")
