"""The supervised U-Net baseline: it learns a simple lesion, repeatably, and saves what it needs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from diffseg.evaluation.metrics import segmentation_scores
from diffseg.evaluation.unet_baseline import (
    SegmentationUNet,
    UNetSettings,
    bce_dice_loss,
    predict_unet,
    random_flips,
    train_unet,
)
from diffseg.runtime.errors import BadInputError, ConfigError
from diffseg.runtime.tensors import to_network_input

CPU = torch.device("cpu")


def dark_blobs(n: int, seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Light noisy skin with one dark ellipse of random place and size per image, and its mask."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices((size, size))
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), bool)
    for i in range(n):
        centre = rng.uniform(10, size - 10, 2)
        radii = rng.uniform(4, 9, 2)
        masks[i] = ((rows - centre[0]) / radii[0]) ** 2 + ((cols - centre[1]) / radii[1]) ** 2 <= 1
        skin = rng.uniform(170, 220, 3)
        colour = np.where(masks[i][..., None], skin * 0.45, skin) + rng.normal(0, 6, (size, size, 3))
        images[i] = np.clip(colour, 0, 255).astype(np.uint8)
    return images, masks


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("unet")
    images, masks = dark_blobs(24, seed=0)
    settings = UNetSettings(steps=80, batch_size=8, lr=3e-3, base_channels=8, seed=3)
    losses = train_unet(images, masks, out / "model.pt", settings, CPU, loss_csv=out / "loss.csv")
    return out, settings, losses, (images, masks)


def test_learns_to_segment_unseen_images(trained):
    out, _, losses, _ = trained
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    images, masks = dark_blobs(10, seed=1)
    probability = predict_unet(out / "model.pt", images, CPU, batch_size=4)
    assert probability.shape == (10, 32, 32) and probability.dtype == np.float32
    assert 0 <= probability.min() and probability.max() <= 1
    dice = [segmentation_scores(p >= 0.5, m)["dice"] for p, m in zip(probability, masks, strict=True)]
    assert np.mean(dice) > 0.8


def test_saves_model_and_loss_atomically(trained):
    out, settings, losses, _ = trained
    assert sorted(p.name for p in out.iterdir()) == ["loss.csv", "model.pt"]
    saved = torch.load(out / "model.pt", weights_only=True)
    assert saved["settings"] == {"steps": 80, "batch_size": 8, "lr": 3e-3, "base_channels": 8, "seed": 3}
    assert tuple(saved["size"]) == (32, 32)
    loss = pd.read_csv(out / "loss.csv")
    assert loss["step"].tolist() == list(range(1, 81))
    np.testing.assert_allclose(loss["loss"], losses)


def test_same_seed_same_training(trained, tmp_path):
    _, settings, losses, (images, masks) = trained
    shorter = UNetSettings(**{**settings.__dict__, "steps": 5})
    again = train_unet(images, masks, tmp_path / "again.pt", shorter, CPU)
    assert again == pytest.approx(losses[:5], rel=1e-5)


def test_flips_move_images_and_masks_together():
    images, masks = dark_blobs(16, seed=2)
    x = to_network_input(images, CPU)
    y = torch.from_numpy(masks).float()[:, None]
    flipped_x, flipped_y = random_flips(x, y, torch.Generator().manual_seed(0))
    assert not torch.equal(flipped_x, x)  # 16 samples: some were flipped
    dark = flipped_x.mean(dim=1, keepdim=True) < flipped_x.mean(dim=(1, 2, 3), keepdim=True) - 0.3
    assert torch.equal(dark, flipped_y.bool())


def test_network_input_range_and_loss_minimum():
    x = to_network_input(np.array([[[[0, 255, 128]]]], np.uint8), CPU)
    assert x.shape == (1, 3, 1, 1)
    assert x.flatten().tolist() == pytest.approx([-1.0, 1.0, 128 / 127.5 - 1], abs=1e-6)
    target = torch.zeros(1, 1, 4, 4)
    target[..., :2, :] = 1
    perfect = bce_dice_loss((target * 2 - 1) * 30, target)
    wrong = bce_dice_loss((1 - target * 2) * 30, target)
    assert perfect.item() < 1e-3 < 1 < wrong.item()
    assert SegmentationUNet(4)(torch.zeros(2, 3, 16, 16)).shape == (2, 1, 16, 16)


def test_bad_settings_inputs_and_model_files_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="unet.steps"):
        UNetSettings(steps=0)
    with pytest.raises(ConfigError, match="unet.lr"):
        UNetSettings(lr=0)
    images, masks = dark_blobs(2, seed=0)
    with pytest.raises(ValueError, match="do not match"):
        train_unet(images, masks[:, :16], tmp_path / "m.pt", UNetSettings(steps=1), CPU)
    with pytest.raises(ValueError, match="divisible"):
        train_unet(images[:, :30, :30], masks[:, :30, :30], tmp_path / "m.pt", UNetSettings(steps=1), CPU)
    (tmp_path / "broken.pt").write_bytes(b"not a model")
    with pytest.raises(BadInputError, match="broken.pt"):
        predict_unet(tmp_path / "broken.pt", images, CPU)
