"""Training the class-conditional DDPM ε_θ(x_t, t, c) from image-level labels (docs/method.md §1).

One explicit loop: draw a batch, flip it, replace its label by the null class with probability
`label_dropout`, draw t and ε, x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε, minimise ‖ε − ε_θ(x_t, t, c)‖²
with AdamW and gradient clipping, and update an exponential moving average of the weights, which is
the model inference uses.

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

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from diffseg.atomic import atomic_path, write_csv
from diffseg.device import seed_everything
from diffseg.errors import BadInputError, ConfigError
from diffseg.logs import log, progress
from diffseg.model import build_scheduler, build_unet, save_model
from diffseg.semantics import HEALTHY, LESION, NULL
from diffseg.tensors import to_network_input

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

    def __post_init__(self):
        for name in ("steps", "batch_size", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"train.{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 0 <= self.t_min < self.t_max <= 1000:
            raise ConfigError(
                f"train.t_min < train.t_max must lie in [0, 1000], got {self.t_min}, {self.t_max}"
            )
        if not 0 <= self.label_dropout <= 1 or not 0 <= self.ema_decay <= 1:
            raise ConfigError("train.label_dropout and train.ema_decay must lie in [0, 1]")


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
    workdir: str | os.PathLike,
    out_dir: str | os.PathLike,
    loss_csv: str | os.PathLike,
    settings: TrainSettings,
    preset: str,
    size: int,
    device: torch.device | str = "cpu",
) -> list[float]:
    """Train ε_θ on `images` `(N, size, size, 3) uint8` with class `labels` `(N,)` (0 healthy, 1 lesion).

    Resumes from `workdir/checkpoint.pt` when it belongs to the same data and settings; saves the EMA
    weights to `out_dir` (`save_model`) and the loss per step to `loss_csv`. Returns the losses.
    """
    images, labels = _checked_training_data(images, labels, size)
    device = torch.device(device)
    fingerprint = _fingerprint(images, labels, settings, preset, size)
    seed_everything(settings.seed)
    unet = build_unet(preset, size).to(device).train()
    ema = EMA(unet, settings.ema_decay)
    optimiser = torch.optim.AdamW(unet.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    generator = torch.Generator().manual_seed(settings.seed)
    checkpoint = Path(workdir) / CHECKPOINT_NAME
    losses = _resume(checkpoint, fingerprint, settings.steps, unet, ema, optimiser, generator)
    alphas_cumprod = build_scheduler().alphas_cumprod
    pixels = to_network_input(images, device)
    classes = torch.from_numpy(labels)
    bar = progress(range(len(losses), settings.steps), desc="DDPM", total=settings.steps, initial=len(losses))
    for step in bar:
        batch = _draw_batch(pixels, classes, settings, generator, device)
        losses.append(_train_step(unet, optimiser, settings, alphas_cumprod, *batch))
        ema.update(unet)
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        if (step + 1) % settings.checkpoint_every == 0 and step + 1 < settings.steps:
            _save_checkpoint(checkpoint, fingerprint, unet, ema, optimiser, generator, losses)
    _save_checkpoint(checkpoint, fingerprint, unet, ema, optimiser, generator, losses)
    save_model(ema.model, out_dir)
    steps = np.arange(1, len(losses) + 1)
    write_csv(pd.DataFrame({"step": steps, "loss": losses}), loss_csv)
    log.info("DDPM: %d steps, loss (mean of the last 50) %.4f", len(losses), float(np.mean(losses[-50:])))
    return losses


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


def _draw_batch(pixels, classes, settings: TrainSettings, generator, device):
    """Images, noise, steps and class labels of one batch, all drawn from `generator`."""
    picks = torch.randint(len(pixels), (settings.batch_size,), generator=generator)
    x0 = random_flips(pixels[picks.to(device)], generator)
    dropped = torch.rand(settings.batch_size, generator=generator) < settings.label_dropout
    c = torch.where(dropped, torch.full_like(classes[picks], NULL), classes[picks])
    t = torch.randint(settings.t_min, settings.t_max, (settings.batch_size,), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    return x0, noise.to(device), t.to(device), c.to(device)


def _train_step(unet, optimiser, settings: TrainSettings, alphas_cumprod, x0, noise, t, c) -> float:
    """One AdamW step on the ε-prediction loss; mixed precision (bfloat16) on CUDA."""
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if x0.device.type == "cuda" else contextlib.nullcontext()
    )
    with autocast:
        predicted = unet(noisy_sample(x0, noise, t, alphas_cumprod), t, class_labels=c).sample
    loss = F.mse_loss(predicted.float(), noise)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(unet.parameters(), settings.grad_clip)
    optimiser.step()
    return float(loss.item())


def _fingerprint(images, labels, settings: TrainSettings, preset: str, size: int) -> str:
    """What a checkpoint must share with this run to be resumed: data, preset and trajectory settings."""
    digest = hashlib.sha256(images.tobytes())
    digest.update(labels.tobytes())
    trajectory = {k: v for k, v in asdict(settings).items() if k not in _TRAJECTORY_EXCLUDES}
    digest.update(json.dumps([trajectory, preset, size], sort_keys=True).encode())
    return digest.hexdigest()


def _save_checkpoint(path: Path, fingerprint: str, unet, ema: EMA, optimiser, generator, losses) -> None:
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
        "losses": list(losses),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _resume(
    path: Path, fingerprint: str, max_steps: int, unet, ema: EMA, optimiser, generator
) -> list[float]:
    """Load the checkpoint at `path` into the training state; the losses so far ([] when starting)."""
    if not path.is_file():
        return []
    try:
        # On the CPU: generator states must stay there; load_state_dict moves the rest to the device.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as error:
        raise BadInputError(
            path, f"unreadable training checkpoint ({error}); delete it to start over"
        ) from error
    if state.get("fingerprint") != fingerprint or len(state["losses"]) > max_steps:
        log.warning("%s: from other data, settings or a longer run; training starts over", path)
        return []
    unet.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    optimiser.load_state_dict(state["optimiser"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
    log.info("resumed from %s at step %d", path, len(state["losses"]))
    return list(state["losses"])
