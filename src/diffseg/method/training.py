"""Training the class-conditional DDPM ε_θ(x_t, t, c) from image-level labels (docs/method.md §1).

One explicit loop: draw a batch (each element a lesion image with probability `lesion_share`, else
a healthy one, so the two semantics are seen in that ratio whatever their image counts), flip it,
replace its label by the null class with probability `label_dropout`, draw t and ε,
x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε, minimise ‖ε − ε_θ(x_t, t, c)‖² with AdamW and gradient
clipping, and update an exponential moving average of the weights, which is the model inference uses.

The same loop trains the networks of the authors' fine-tuned pair (docs/method.md §7): `prediction`
"sample" makes the network predict x̂₀ instead of ε (`diffseg.method.prediction`), `targets` gives each
image the x̂₀ it must be mapped to (another image than its own), and `initial` the weights to start
from.

Every random number of the loop comes from one seeded CPU generator, so a run is repeatable on CPU
and does not depend on the device's RNG. Checkpoints (`workdir/checkpoint.pt`, written atomically)
hold the whole state (weights, EMA, optimiser, step, the generator and the global RNG states, the
loss so far); a killed run resumes from the last one and ends with the same weights as an
uninterrupted run.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import pickle
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from diffseg.method.model import build_scheduler, build_unet, save_model
from diffseg.method.prediction import checked_prediction
from diffseg.method.semantics import HEALTHY, LESION, NULL
from diffseg.runtime.atomic import atomic_path, write_csv
from diffseg.runtime.device import seed_everything
from diffseg.runtime.errors import BadInputError, ConfigError, require_positive_integers
from diffseg.runtime.logs import log, progress
from diffseg.runtime.tensors import to_network_input

CHECKPOINT_NAME = "checkpoint.pt"
# Settings that change the training trajectory; `steps` and `checkpoint_every` do not, so a
# finished run can be continued to more steps from its last checkpoint.
_TRAJECTORY_EXCLUDES = ("steps", "checkpoint_every")


@dataclass(frozen=True)
class TrainSettings:
    """The schema's `train` section."""

    steps: int = 600
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    ema_decay: float = 0.995
    label_dropout: float = 0.1
    grad_clip: float = 1.0
    checkpoint_every: int = 250
    t_min: int = 0
    t_max: int = 1000
    seed: int = 0
    lesion_share: float = 0.5

    def __post_init__(self):
        require_positive_integers("train", self, ("steps", "batch_size", "checkpoint_every"))
        if not 0 <= self.t_min < self.t_max <= 1000:
            raise ConfigError(
                f"train.t_min < train.t_max must lie in [0, 1000], got {self.t_min}, {self.t_max}"
            )
        if not all(0 <= value <= 1 for value in (self.label_dropout, self.ema_decay, self.lesion_share)):
            raise ConfigError(
                "train.label_dropout, train.ema_decay and train.lesion_share must lie in [0, 1]"
            )


@dataclass(frozen=True)
class SampleTargets:
    """The x̂₀ each training image is mapped to, when it is not the image itself (docs/method.md §7).

    `images` `(M, size, size, 3) uint8`. With `per_image` > 0, training image i draws its target from
    rows [i · per_image, (i + 1) · per_image) (its own border crops, in `healthy.border_crops`' order);
    with 0, from every row.
    """

    images: np.ndarray
    per_image: int


@dataclass(frozen=True)
class TrainingPaths:
    """Where a run keeps its resumable checkpoint (`workdir/checkpoint.pt`) and saves the EMA weights
    inference uses (`out_dir`, `save_model`) and, per step, the loss and how many of the batch's
    elements were lesion and healthy images (`loss_csv`)."""

    workdir: str | os.PathLike
    out_dir: str | os.PathLike
    loss_csv: str | os.PathLike


@dataclass(frozen=True)
class NetworkSpec:
    """The network a run trains: the schema's `model.preset` at the `dataset.size` images are stored
    at (`build_unet`), on `device`."""

    preset: str
    size: int
    device: torch.device | str


class _Batch(NamedTuple):
    """One training batch, all drawn from the run's generator (`_draw_batch`)."""

    x0: torch.Tensor  # the images (N, 3, H, W)
    target: torch.Tensor  # their x̂₀ targets: the images themselves, or drawn from `SampleTargets`
    noise: torch.Tensor  # ε
    t: torch.Tensor  # the steps
    c: torch.Tensor  # the class labels, the null class where dropped
    lesion_draws: int  # how many of the images are lesion images


class EMA:
    """Exponential moving average of a model's weights, with the usual warm-up of the decay.

    The decay at update n is min(ema_decay, (1 + n) / (10 + n)), so short runs are not dominated
    by the random initial weights.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        averaged = list(self.model.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in model.parameters()], 1 - decay)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])


def random_flips(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random horizontal and vertical flip per sample of `x` `(N, C, H, W)`."""
    for dim in (2, 3):
        flip = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(dim), x)
    return x


def noisy_sample(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor):
    """x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε for a batch, ᾱ indexed by each sample's t."""
    abar = alphas_cumprod.to(x0.device)[t].float()[:, None, None, None]
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def train_ddpm(
    images: np.ndarray,
    labels: np.ndarray,
    paths: TrainingPaths,
    settings: TrainSettings,
    network: NetworkSpec,
    prediction: str = "epsilon",
    targets: SampleTargets | None = None,
    initial: torch.nn.Module | None = None,
) -> list[float]:
    """Train ε_θ on `images` `(N, size, size, 3) uint8` with class `labels` `(N,)` (0 healthy, 1 lesion).

    `prediction` "sample" trains the network to predict x̂₀ instead: the image itself, or its
    `targets`. `initial` is a network of the same preset whose weights training starts from.
    Resumes from `paths.workdir/checkpoint.pt` when it belongs to the same data, settings and start;
    saves the EMA weights to `paths.out_dir` (`save_model`) and, per step, the loss and how many of
    the batch's elements were lesion and healthy images to `paths.loss_csv`. Returns the losses.
    """
    images, labels = _checked_training_data(images, labels, network.size)
    prediction = checked_prediction(prediction)
    target_images = _checked_targets(targets, prediction, len(images), network.size)
    device = torch.device(network.device)
    seed_everything(settings.seed)
    unet = build_unet(network.preset, network.size).to(device).train()
    if initial is not None:
        unet.load_state_dict(initial.state_dict())
    fingerprint = _fingerprint(images, labels, settings, network, prediction, targets, initial)
    ema = EMA(unet, settings.ema_decay)
    optimiser = torch.optim.AdamW(unet.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    generator = torch.Generator().manual_seed(settings.seed)
    checkpoint = Path(paths.workdir) / CHECKPOINT_NAME
    history = _resume(checkpoint, fingerprint, settings.steps, unet, ema, optimiser, generator)
    alphas_cumprod = build_scheduler().alphas_cumprod
    pixels = to_network_input(images, device)
    classes = torch.from_numpy(labels)
    goals = None if target_images is None else (to_network_input(target_images, device), targets.per_image)
    done = len(history["loss"])
    bar = progress(range(done, settings.steps), desc="DDPM", total=settings.steps, initial=done)
    for step in bar:
        batch = _draw_batch(pixels, classes, goals, settings, generator, device)
        history["loss"].append(_train_step(unet, optimiser, settings, alphas_cumprod, batch, prediction))
        history["lesion_draws"].append(batch.lesion_draws)
        ema.update(unet)
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", refresh=False)
        if (step + 1) % settings.checkpoint_every == 0 and step + 1 < settings.steps:
            _save_checkpoint(checkpoint, fingerprint, unet, ema, optimiser, generator, history)
    _save_checkpoint(checkpoint, fingerprint, unet, ema, optimiser, generator, history)
    save_model(ema.model, paths.out_dir)
    _write_history(history, settings, labels, paths.loss_csv)
    return history["loss"]


def _write_history(history: dict[str, list], settings: TrainSettings, labels: np.ndarray, loss_csv) -> None:
    """Write the per-step loss and lesion and healthy draws to `loss_csv`, and log the run's summary."""
    lesion = np.asarray(history["lesion_draws"], dtype=np.int64)
    table = pd.DataFrame({"step": np.arange(1, len(lesion) + 1), "loss": history["loss"],
                          "lesion_draws": lesion, "healthy_draws": settings.batch_size - lesion})  # fmt: skip
    write_csv(table, loss_csv)
    last_losses = float(np.mean(history["loss"][-50:]))
    log.info("DDPM: %d steps, loss (mean of the last 50) %.4f", len(table), last_losses)
    log.info(_draws_report(lesion, settings, labels))


def balanced_picks(
    labels: torch.Tensor, count: int, lesion_share: float, generator: torch.Generator
) -> torch.Tensor:
    """`count` rows of `labels` `(N,)`: each a lesion image with probability `lesion_share`, else a
    healthy one, uniform within its semantic, so the semantics are seen in that ratio whatever their
    image counts (4 border crops per lesion image would otherwise be 4 healthy draws per lesion one).
    With one semantic only, rows are uniform over all images."""
    lesion_rows = torch.nonzero(labels == LESION).flatten()
    healthy_rows = torch.nonzero(labels != LESION).flatten()
    if not len(lesion_rows) or not len(healthy_rows):
        return torch.randint(len(labels), (count,), generator=generator)
    from_lesion = torch.rand(count, generator=generator) < lesion_share
    lesion = lesion_rows[torch.randint(len(lesion_rows), (count,), generator=generator)]
    healthy = healthy_rows[torch.randint(len(healthy_rows), (count,), generator=generator)]
    return torch.where(from_lesion, lesion, healthy)


def _draws_report(lesion_draws: np.ndarray, settings: TrainSettings, labels: np.ndarray) -> str:
    """The log line of the ratio of semantics the run drew (before label dropout)."""
    lesion = int(lesion_draws.sum())
    healthy = len(lesion_draws) * settings.batch_size - lesion
    share = lesion / max(1, lesion + healthy)
    drawn = f"batch elements by semantic label: {lesion} lesion, {healthy} healthy"
    if len(np.unique(labels)) == 1:
        return f"{drawn} (one label only: train.lesion_share does not apply)"
    return f"{drawn}, lesion share {share:.3f} (train.lesion_share {settings.lesion_share})"


def _checked_training_data(images, labels, size: int) -> tuple[np.ndarray, np.ndarray]:
    images = np.ascontiguousarray(images)
    labels = np.asarray(labels, dtype=np.int64)
    if images.ndim != 4 or images.shape[1:] != (size, size, 3) or images.dtype != np.uint8:
        raise ValueError(f"images should be (N, {size}, {size}, 3) uint8, got {images.shape} {images.dtype}")
    if labels.shape != (len(images),):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    if len(images) == 0 or not np.isin(labels, (HEALTHY, LESION)).all():
        raise ValueError("the DDPM needs at least one image, labelled 0 (healthy) or 1 (lesion)")
    return images, labels


def _checked_targets(targets: SampleTargets | None, prediction: str, count: int, size: int):
    """The target images as a contiguous array, or None when each image is its own target."""
    if targets is None:
        return None
    if prediction != "sample":
        raise ValueError("targets are x̂₀ targets: they need prediction 'sample'")
    images = np.ascontiguousarray(targets.images)
    if images.ndim != 4 or images.shape[1:] != (size, size, 3) or images.dtype != np.uint8 or not len(images):
        raise ValueError(f"targets should be (M, {size}, {size}, 3) uint8, got {images.shape} {images.dtype}")
    if targets.per_image < 0 or (targets.per_image and len(images) != count * targets.per_image):
        raise ValueError(
            f"{len(images)} targets for {count} images do not make {targets.per_image} per image"
        )
    return images


def _draw_batch(pixels, classes, goals, settings: TrainSettings, generator, device) -> _Batch:
    """Images, their x̂₀ targets, noise, steps, class labels and the count of lesion images of one
    batch, all drawn from `generator`. `goals` is (target pixels, per_image) or None (x̂₀ = x_0)."""
    picks = balanced_picks(classes, settings.batch_size, settings.lesion_share, generator)
    x0 = pixels[picks.to(device)]
    if goals is None:
        x0 = target = random_flips(x0, generator)
    else:
        target = goals[0][_target_rows(picks, *goals, generator).to(device)]
        # One flip for the pair: a border crop stays on the side of the image it was cut from.
        x0, target = random_flips(torch.cat([x0, target], dim=1), generator).chunk(2, dim=1)
    dropped = torch.rand(settings.batch_size, generator=generator) < settings.label_dropout
    c = torch.where(dropped, torch.full_like(classes[picks], NULL), classes[picks])
    t = torch.randint(settings.t_min, settings.t_max, (settings.batch_size,), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    lesion_draws = int((classes[picks] == LESION).sum())
    return _Batch(x0, target, noise.to(device), t.to(device), c.to(device), lesion_draws)


def _target_rows(picks: torch.Tensor, targets: torch.Tensor, per_image: int, generator) -> torch.Tensor:
    """A target row per picked image: one of its own `per_image` rows, or any row when 0."""
    if not per_image:
        return torch.randint(len(targets), (len(picks),), generator=generator)
    return picks * per_image + torch.randint(per_image, (len(picks),), generator=generator)


def _train_step(unet, optimiser, settings: TrainSettings, alphas_cumprod, batch: _Batch, prediction: str) -> float:
    """One AdamW step on ‖goal − network(x_t, t, c)‖², goal ε (`prediction` "epsilon") or x̂₀;
    mixed precision (bfloat16) on CUDA."""
    goal = batch.noise if prediction == "epsilon" else batch.target
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if batch.x0.device.type == "cuda" else contextlib.nullcontext()
    )
    with autocast:
        x_t = noisy_sample(batch.x0, batch.noise, batch.t, alphas_cumprod)
        predicted = unet(x_t, batch.t, class_labels=batch.c).sample
    loss = F.mse_loss(predicted.float(), goal)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(unet.parameters(), settings.grad_clip)
    optimiser.step()
    return float(loss.item())


def _fingerprint(
    images, labels, settings: TrainSettings, network: NetworkSpec, prediction: str, targets, initial
) -> str:
    """What a checkpoint must share with this run to be resumed: data, preset, trajectory settings,
    prediction target and the weights it started from; not the device, so a run resumes on another."""
    digest = hashlib.sha256(images.tobytes())
    digest.update(labels.tobytes())
    trajectory = {k: v for k, v in asdict(settings).items() if k not in _TRAJECTORY_EXCLUDES}
    digest.update(json.dumps([trajectory, network.preset, network.size, prediction], sort_keys=True).encode())
    if targets is not None:
        digest.update(np.ascontiguousarray(targets.images).tobytes())
        digest.update(str(targets.per_image).encode())
    if initial is not None:
        for name, tensor in sorted(initial.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def _save_checkpoint(path: Path, fingerprint: str, unet, ema: EMA, optimiser, generator, history) -> None:
    state = {
        "fingerprint": fingerprint,
        "model": unet.state_dict(),
        "ema": ema.state_dict(),
        "optimiser": optimiser.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy_rng": np.random.get_state(),
        "python_rng": random.getstate(),
        "history": {name: list(values) for name, values in history.items()},
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _resume(
    path: Path, fingerprint: str, max_steps: int, unet, ema: EMA, optimiser, generator
) -> dict[str, list]:
    """Load the checkpoint at `path` into the training state; the per-step history so far (loss,
    lesion_draws; empty when starting)."""
    fresh = {"loss": [], "lesion_draws": []}
    if not path.is_file():
        return fresh
    try:
        # On the CPU: generator states must stay there; load_state_dict moves the rest to the device.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as error:
        raise BadInputError(
            path, f"unreadable training checkpoint ({error}); delete it to start over"
        ) from error
    if state.get("fingerprint") != fingerprint or len(state["history"]["loss"]) > max_steps:
        log.warning("%s: from other data, settings or a longer run; training starts over", path)
        return fresh
    unet.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    optimiser.load_state_dict(state["optimiser"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
    log.info("resumed from %s at step %d", path, len(state["history"]["loss"]))
    return {name: list(values) for name, values in state["history"].items()}
