"""Training the DDPM of each reading of the two semantics (docs/method.md §7), on top of `train`.

- `conditional` (our default): one class-conditional network on lesion and healthy-skin images
  together, drawn in the ratio `train.lesion_share`.
- `pair` (our approximation of the authors' code): two independent ε-prediction networks, one on
  the lesion images and one on healthy skin.
- `finetuned_pair` (the authors' code, `train_healthy` of CheneyNine/DiffSeg): a lesion network
  predicting x̂₀, then a copy of it fine-tuned at small t to map noised lesion images to healthy skin.

Every network trains with the loop of `train_ddpm` and has its own resumable checkpoint under
`workdir/<name>`; a pair is saved as a `semantic_pair` that records what each network predicts.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from diffseg.data.lesion_views import lesion_training_set
from diffseg.method.model import load_model
from diffseg.method.semantic_pair import save_pair
from diffseg.method.semantics import HEALTHY, LESION, SEMANTICS
from diffseg.method.training import NetworkSpec, SampleTargets, TrainingPaths, TrainSettings, train_ddpm
from diffseg.runtime.atomic import atomic_dir, write_csv
from diffseg.runtime.errors import ConfigError
from diffseg.runtime.logs import log

MODELS = ("conditional", "pair", "finetuned_pair")
# semantics.finetune_steps null fine-tunes for this share of train.steps.
FINETUNE_STEPS_DIVISOR = 4


@dataclasses.dataclass(frozen=True)
class PairSettings:
    """The schema's `semantics` section as the pairs read it (docs/method.md §7).

    - `t_ranges`: per network name, the [t_min, t_max) of its training steps, replacing the train
      settings' range (a name without one keeps it); finetuned_pair reads "lesion" only;
    - `finetune_t_range`: finetuned_pair: the [t_min, t_max) of the healthy network's fine-tune;
    - `finetune_steps`: finetuned_pair: steps of the fine-tune; None: `train.steps // 4` (at least 1).
    """

    t_ranges: Mapping[str, Sequence[int]]
    finetune_t_range: Sequence[int]
    finetune_steps: int | None = None


def train_semantics(
    lesions: np.ndarray,
    healthy: np.ndarray,
    semantics: Mapping,
    healthy_per_lesion: int = 0,
    lesion_zooms: Sequence[float] = (),
    **training,
) -> list[float] | dict[str, list[float]]:
    """Train the DDPM of `semantics["model"]` on `lesions` and `healthy` skin `(n, size, size, 3) uint8`.

    `semantics` is the schema's `semantics` section; `healthy_per_lesion` > 0 says that `healthy`
    holds each lesion image's own skin, that many rows per image (`healthy.own_skin_per_lesion`);
    `lesion_zooms` adds the lesion images' zoomed-in centre views to the lesion class
    (`lesion_views`); `training` holds the other arguments of `train_ddpm` (paths, settings,
    network). Saves the model to `paths.out_dir` and the loss per step to `paths.loss_csv`; returns
    the losses (one list per network for a pair).
    """
    model = semantics["model"]
    if model not in MODELS:
        raise ConfigError(f"semantics.model {model!r} is not one of {MODELS}")
    if len(lesion_zooms) and model == "finetuned_pair":
        raise ConfigError(
            "lesion_views.zooms adds lesion images without skin of their own, which semantics.model "
            "finetuned_pair maps every lesion image to: use it with conditional or pair"
        )
    lesions = lesion_training_set(lesions, lesion_zooms)
    log.info("training images: %d lesion, %d healthy skin", len(lesions), len(healthy))
    if model == "conditional":
        images = np.concatenate([lesions, healthy])
        labels = np.repeat([LESION, HEALTHY], [len(lesions), len(healthy)])
        return train_ddpm(images, labels, **training)
    if {semantics["a"], semantics["b"]} != {"healthy", "lesion"}:
        raise ConfigError(
            f"semantics.model {model} compares the healthy and lesion networks: set a and b to them"
        )
    if model == "pair":
        return train_pair({"lesion": lesions, "healthy": healthy}, t_ranges=semantics["t_ranges"], **training)
    pair = PairSettings(semantics["t_ranges"], semantics["finetune_t_range"], semantics["finetune_steps"])
    return train_finetuned_pair(lesions, healthy, pair=pair, healthy_per_lesion=healthy_per_lesion, **training)


def train_pair(
    images: Mapping[str, np.ndarray],
    paths: TrainingPaths,
    settings: TrainSettings,
    t_ranges: Mapping[str, Sequence[int]],
    network: NetworkSpec,
) -> dict[str, list[float]]:
    """Train one ε-prediction network per semantic on its `images[name]` (each for `settings.steps`).

    Each network has its own checkpoint under `paths.workdir/<name>`, so a killed run resumes the one
    it was training. `t_ranges[name]` = [t_min, t_max) replaces the settings' range for that network
    (`PairSettings.t_ranges`). The loss CSV holds the mean of the two losses per step and one column
    per network.
    """
    losses = {
        name: _train_network(
            paths.workdir, name, semantic_images, _in_t_range(settings, t_ranges.get(name)), network=network
        )
        for name, semantic_images in images.items()
    }
    _save_networks(paths.workdir, paths.out_dir, dict.fromkeys(images, "epsilon"))
    table = pd.DataFrame({f"loss_{name}": values for name, values in losses.items()})
    table.insert(0, "loss", table.mean(axis=1))
    table.insert(0, "step", np.arange(1, len(table) + 1))
    write_csv(table, paths.loss_csv)
    return losses


def train_finetuned_pair(
    lesions: np.ndarray,
    healthy: np.ndarray,
    paths: TrainingPaths,
    settings: TrainSettings,
    pair: PairSettings,
    network: NetworkSpec,
    healthy_per_lesion: int = 0,
) -> dict[str, list[float]]:
    """The authors' pair: a lesion network, and a copy of it fine-tuned into the healthy network.

    Both predict x̂₀, as the authors' do: the fine-tune starts from the lesion network's output, so
    the two must predict the same kind of thing. The lesion network learns to denoise the `lesions`
    (`settings.steps`, t in `pair.t_ranges["lesion"]` or the settings' range). Its EMA weights start
    the healthy network, fine-tuned for `pair.finetune_steps` (None: `settings.steps // 4`) at t in
    `pair.finetune_t_range` to map x_t of a lesion image to a healthy x̂₀: one of the image's own
    `healthy_per_lesion` rows of `healthy` (its border crops), or with 0 any healthy image. The loss
    CSV has one row per step of either network, in training order, and the network's name.
    """
    if pair.t_ranges.get("healthy"):
        raise ConfigError(
            "semantics.t_ranges.healthy is the pair's; finetuned_pair fine-tunes the healthy network at "
            "semantics.finetune_t_range"
        )
    common = dict(network=network, prediction="sample")
    lesion_settings = _in_t_range(settings, pair.t_ranges.get("lesion"))
    lesion_losses = _train_network(paths.workdir, "lesion", lesions, lesion_settings, **common)
    steps = pair.finetune_steps or max(1, settings.steps // FINETUNE_STEPS_DIVISOR)
    finetune = _in_t_range(dataclasses.replace(settings, steps=steps), pair.finetune_t_range)
    log.info("fine-tuning a copy of the lesion network: %d steps, t in %s", steps, list(pair.finetune_t_range))
    healthy_losses = _train_network(
        paths.workdir, "healthy", lesions, finetune,
        targets=SampleTargets(healthy, healthy_per_lesion),
        initial=answering_to_healthy(load_model(Path(paths.workdir) / "lesion" / "ema")),
        **common,
    )  # fmt: skip
    _save_networks(paths.workdir, paths.out_dir, {"lesion": "sample", "healthy": "sample"})
    table = pd.DataFrame(
        {
            "step": np.arange(1, len(lesion_losses) + len(healthy_losses) + 1),
            "loss": lesion_losses + healthy_losses,
            "network": ["lesion"] * len(lesion_losses) + ["healthy"] * len(healthy_losses),
        }
    )
    write_csv(table, paths.loss_csv)
    return {"lesion": lesion_losses, "healthy": healthy_losses}


def answering_to_healthy(lesion_network: torch.nn.Module) -> torch.nn.Module:
    """A copy of `lesion_network` that answers to the healthy label as the original to the lesion one.

    The authors' networks are unconditional; ours take a label, and a network trained on lesion
    images only has never trained its healthy label's embedding, so the copy gets the lesion
    label's: the fine-tune then starts from exactly the lesion network.
    """
    start = copy.deepcopy(lesion_network)
    with torch.no_grad():
        start.class_embedding.weight[HEALTHY] = start.class_embedding.weight[LESION]
    return start


def _train_network(
    workdir, name: str, images: np.ndarray, settings: TrainSettings, **training
) -> list[float]:
    """Train the network of semantic `name` on `images` in `workdir/<name>` (checkpoint, ema/, loss.csv)."""
    folder = Path(workdir) / name
    labels = np.full(len(images), SEMANTICS[name])
    return train_ddpm(images, labels, TrainingPaths(folder, folder / "ema", folder / "loss.csv"), settings, **training)


def _in_t_range(settings: TrainSettings, t_range: Sequence[int] | None) -> TrainSettings:
    """`settings` with [t_min, t_max) = `t_range`, or unchanged when there is none."""
    t_min, t_max = t_range or (settings.t_min, settings.t_max)
    return dataclasses.replace(settings, t_min=int(t_min), t_max=int(t_max))


def _save_networks(workdir, out_dir, predictions: Mapping[str, str]) -> None:
    """Save the EMA networks under `workdir/<name>/ema` as one pair in `out_dir`, atomically."""
    with atomic_dir(out_dir) as tmp:
        for name in predictions:
            shutil.copytree(Path(workdir) / name / "ema", tmp / name)
        save_pair(tmp, predictions)
