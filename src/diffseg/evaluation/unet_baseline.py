"""The supervised baseline: a small U-Net (Ronneberger et al. 2015) trained on the masks.

DiffSeg never sees a mask; this network is trained on the same training images *with* their masks,
at the same resolution, so Table 1 shows what full supervision buys on the same test images.
Plain torch, three levels: two 3×3 convolutions (GroupNorm, ReLU) per level, max-pooling down,
transposed convolutions up, skip connections by concatenation, one logit per pixel.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from diffseg.runtime.atomic import atomic_path, write_csv
from diffseg.runtime.device import seed_everything
from diffseg.runtime.errors import BadInputError, ConfigError, require_positive_integers
from diffseg.runtime.logs import log, progress
from diffseg.runtime.tensors import to_network_input

LEVELS = 3  # 64 px → 16 px at the bottleneck: its receptive field spans a whole 64-px lesion


@dataclass(frozen=True)
class UNetSettings:
    """The schema's `unet` section: the training budget and the network's width."""

    steps: int = 600
    batch_size: int = 16
    lr: float = 1e-3
    base_channels: int = 16
    seed: int = 0

    def __post_init__(self):
        require_positive_integers("unet", self, ("steps", "batch_size", "base_channels"))
        if not self.lr > 0:
            raise ConfigError(f"unet.lr must be positive, got {self.lr!r}")


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    groups = min(8, out_channels)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(inplace=True),
    )


class SegmentationUNet(nn.Module):
    """`(N, 3, H, W)` images in [-1, 1] → `(N, 1, H, W)` lesion logits; H, W divisible by 2^(levels-1)."""

    def __init__(self, base_channels: int = 16, levels: int = LEVELS):
        super().__init__()
        widths = [base_channels * 2**level for level in range(levels)]
        inputs = [3, *widths[:-1]]
        self.down = nn.ModuleList(_conv_block(i, o) for i, o in zip(inputs, widths, strict=True))
        narrower = widths[-2::-1]  # the decoder's widths, bottom up
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(2 * narrow, narrow, 2, stride=2) for narrow in narrower
        )
        self.up = nn.ModuleList(_conv_block(2 * narrow, narrow) for narrow in narrower)
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for upsample, block, skip in zip(self.upsample, self.up, skips[-2::-1], strict=True):
            x = block(torch.cat([upsample(x), skip], dim=1))
        return self.head(x)


def bce_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice loss (1 − soft Dice over the batch), both on `(N, 1, H, W)`.

    Cross-entropy gives every pixel a gradient; the Dice term counters the class imbalance of small
    lesions, where cross-entropy alone is satisfied by predicting skin everywhere.
    """
    probability = torch.sigmoid(logits)
    intersection = (probability * target).sum()
    soft_dice = (2 * intersection + 1) / (probability.sum() + target.sum() + 1)
    return F.binary_cross_entropy_with_logits(logits, target) + (1 - soft_dice)


def random_flips(images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator):
    """The same random horizontal and vertical flip per sample of images and masks `(N, C, H, W)`."""
    for dim in (2, 3):
        flip = torch.rand(len(images), generator=generator) < 0.5
        images = torch.where(flip.to(images.device)[:, None, None, None], images.flip(dim), images)
        masks = torch.where(flip.to(masks.device)[:, None, None, None], masks.flip(dim), masks)
    return images, masks


def _check_training_data(images: np.ndarray, masks: np.ndarray) -> None:
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images should be (N, H, W, 3) uint8, got {images.shape} {images.dtype}")
    if masks.shape != images.shape[:3]:
        raise ValueError(f"masks {masks.shape} do not match images {images.shape[:3]}")
    if len(images) == 0:
        raise ValueError("the U-Net needs at least one training image with a mask")
    if images.shape[1] % 2 ** (LEVELS - 1) or images.shape[2] % 2 ** (LEVELS - 1):
        raise ValueError(f"image sides must be divisible by {2 ** (LEVELS - 1)}, got {images.shape[1:3]}")


def train_unet(
    images: np.ndarray,
    masks: np.ndarray,
    model_path: str | os.PathLike,
    settings: UNetSettings,
    device: torch.device,
    loss_csv: str | os.PathLike | None = None,
) -> list[float]:
    """Train on `images` `(N, H, W, 3)` uint8 and `masks` `(N, H, W)` bool; save to `model_path`.

    Each step draws a batch uniformly with replacement (seeded), flips it at random and takes one
    AdamW step on the BCE + Dice loss. The saved file holds the state dict, the settings and the
    image size, written atomically. Returns the loss per step (also written to `loss_csv`).
    """
    images = np.asarray(images)
    masks = np.asarray(masks, dtype=bool)
    _check_training_data(images, masks)
    seed_everything(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    network = SegmentationUNet(settings.base_channels).to(device)
    optimiser = torch.optim.AdamW(network.parameters(), lr=settings.lr)
    all_images = to_network_input(images, device)
    all_masks = torch.from_numpy(masks).to(device).float()[:, None]
    losses = []
    network.train()
    for _ in progress(range(settings.steps), desc="U-Net"):
        batch = torch.randint(len(images), (settings.batch_size,), generator=generator).to(device)
        x, y = random_flips(all_images[batch], all_masks[batch], generator)
        loss = bce_dice_loss(network(x), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    log.info("U-Net: %d steps, final loss (mean of last 50) %.4f", settings.steps, np.mean(losses[-50:]))
    state = {name: value.cpu() for name, value in network.state_dict().items()}
    with atomic_path(model_path) as tmp:
        torch.save({"state_dict": state, "settings": asdict(settings), "size": images.shape[1:3]}, tmp)
    if loss_csv is not None:
        write_csv(pd.DataFrame({"step": np.arange(1, len(losses) + 1), "loss": losses}), loss_csv)
    return losses


def load_unet(model_path: str | os.PathLike, device: torch.device) -> SegmentationUNet:
    """The network saved by `train_unet`, in eval mode on `device`."""
    try:
        saved = torch.load(model_path, map_location=device, weights_only=True)
        network = SegmentationUNet(int(saved["settings"]["base_channels"]))
        network.load_state_dict(saved["state_dict"])
    except (OSError, EOFError, pickle.UnpicklingError, RuntimeError, KeyError, TypeError) as error:
        reason = f"not a U-Net saved by train_unet ({error}); delete it to retrain"
        raise BadInputError(model_path, reason) from error
    return network.to(device).eval()


def predict_unet(
    model_path: str | os.PathLike, images: np.ndarray, device: torch.device, batch_size: int = 64
) -> np.ndarray:
    """Lesion probabilities `(N, H, W)` float32 of uint8 RGB `images` `(N, H, W, 3)`."""
    network = load_unet(model_path, device)
    images = np.asarray(images)
    out = np.empty(images.shape[:3], dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = to_network_input(images[start : start + batch_size], device)
            probability = torch.sigmoid(network(x))[:, 0]
            out[start : start + len(x)] = probability.float().cpu().numpy()
    return out
