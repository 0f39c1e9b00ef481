"""Two single-semantic DDPMs behind the class-conditional call signature (docs/method.md §7).

Our default is one class-conditional network (healthy / lesion / null). A pair has one network per
semantic instead, and extraction compares their predicted noises. Two pairs are trained
(`semantic_training`): `pair`, two independent ε-prediction DDPMs, one on lesion images and one on
healthy skin (our approximation of the authors' code), and `finetuned_pair`, the authors' own: a
lesion network and a copy of it fine-tuned to map noised lesion images to healthy skin, both
predicting x̂₀. `SemanticPair` routes each row of a batch to the network of its label and turns an
x̂₀ prediction into the noise it implies (`diffseg.method.prediction`), so extraction and annotation run
every reading unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from diffusers.models.unets.unet_2d import UNet2DOutput

from diffseg.method.prediction import checked_prediction, noise_from_sample
from diffseg.method.semantics import SEMANTICS
from diffseg.runtime.errors import BadInputError, ConfigError

# Marks a saved pair: {"semantics": [names], "predictions": {name: "epsilon" | "sample"}}; each name
# is a sub-folder saved by `save_model`. Pairs saved before "predictions" existed predict ε.
PAIR_FILE = "semantic_pair.json"


class SemanticPair(torch.nn.Module):
    """Two (or more) single-semantic networks behind the class-conditional call signature.

    `predictions[name]` says what each network predicts; `alphas_cumprod` (the noise schedule's ᾱ)
    turns an x̂₀ prediction into ε. The output is always the predicted noise.
    """

    def __init__(
        self,
        networks: Mapping[str, torch.nn.Module],
        predictions: Mapping[str, str],
        alphas_cumprod: torch.Tensor,
    ):
        super().__init__()
        self.networks = torch.nn.ModuleDict(dict(networks))
        self.predictions = {name: checked_prediction(predictions[name]) for name in self.networks}
        self.alphas_cumprod = alphas_cumprod
        # Same architecture for every semantic; callers read sample_size and channel widths here.
        self.config = next(iter(self.networks.values())).config

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor) -> UNet2DOutput:
        routed = torch.zeros(len(x_t), dtype=torch.bool, device=x_t.device)
        noises = []
        for name, network in self.networks.items():
            rows = class_labels == SEMANTICS[name]
            if not rows.any():
                continue
            predicted = network(x_t[rows], t[rows], class_labels=class_labels[rows]).sample
            if self.predictions[name] == "sample":
                predicted = noise_from_sample(x_t[rows], predicted, t[rows], self.alphas_cumprod)
            noises.append((rows, predicted))
            routed |= rows
        if not routed.all():
            missing = sorted({int(c) for c in class_labels[~routed]})
            names = [name for name, code in SEMANTICS.items() if code in missing]
            raise ConfigError(
                f"semantics.model is a pair, which has networks for {sorted(self.networks)} only, "
                f"not for {names}; set semantics.a and semantics.b to healthy and lesion"
            )
        # The dtype autocast chose, or float32 where an x̂₀ network's noise was computed.
        dtype = noises[0][1].dtype
        for _, predicted in noises[1:]:
            dtype = torch.promote_types(dtype, predicted.dtype)
        sample = torch.empty(x_t.shape, dtype=dtype, device=x_t.device)
        for rows, predicted in noises:
            sample[rows] = predicted.to(dtype)
        return UNet2DOutput(sample=sample)


def is_pair(directory: str | os.PathLike) -> bool:
    return (Path(directory) / PAIR_FILE).is_file()


def load_pair(directory: str | os.PathLike, load_network, alphas_cumprod: torch.Tensor) -> SemanticPair:
    """The pair saved in `directory`; `load_network(sub_folder)` loads (and checks) each network."""
    path = Path(directory) / PAIR_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        names = list(saved["semantics"])
        predictions = {
            name: checked_prediction(saved.get("predictions", {}).get(name, "epsilon")) for name in names
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise BadInputError(path, f"unreadable ({error}); delete the folder to retrain") from error
    networks = {name: load_network(Path(directory) / name) for name in names}
    return SemanticPair(networks, predictions, alphas_cumprod)


def save_pair(directory: str | os.PathLike, predictions: Mapping[str, str]) -> None:
    """Mark `directory` as a pair whose networks are its sub-folders (already saved there), one per
    name of `predictions`, each predicting `predictions[name]` ("epsilon" or "sample")."""
    saved = {"semantics": list(predictions), "predictions": dict(predictions)}
    (Path(directory) / PAIR_FILE).write_text(json.dumps(saved), encoding="utf-8")
