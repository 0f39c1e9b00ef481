"""DDPM training: repeatable, resumable from a checkpoint with the same final state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from diffseg.errors import ConfigError
from diffseg.model import load_model
from diffseg.train import CHECKPOINT_NAME, TrainSettings, train_ddpm

SIZE = 16


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, SIZE, SIZE, 3), dtype=np.uint8)
    return images, np.array([1, 1, 1, 0, 0, 0])


def _train(data, root, steps, checkpoint_every=2):
    settings = TrainSettings(steps=steps, batch_size=4, checkpoint_every=checkpoint_every, seed=3)
    losses = train_ddpm(*data, root / "work", root / "ema", root / "loss.csv", settings, "tiny", SIZE)
    return losses, load_model(root / "ema").state_dict()


def test_resumed_run_ends_in_the_same_state_as_an_uninterrupted_one(data, tmp_path):
    straight_losses, straight = _train(data, tmp_path / "straight", steps=5)
    _train(data, tmp_path / "resumed", steps=3)  # stands for a run killed after step 3
    resumed_losses, resumed = _train(data, tmp_path / "resumed", steps=5)
    assert resumed_losses == straight_losses
    for name, value in straight.items():
        assert torch.equal(value, resumed[name]), name


def test_run_is_repeatable_and_writes_loss_per_step(data, tmp_path):
    first, weights = _train(data, tmp_path / "a", steps=3)
    second, again = _train(data, tmp_path / "b", steps=3)
    assert first == second
    assert all(torch.equal(weights[k], again[k]) for k in weights)
    loss = pd.read_csv(tmp_path / "a" / "loss.csv")
    assert list(loss["step"]) == [1, 2, 3] and np.allclose(loss["loss"], first)
    assert (tmp_path / "a" / "work" / CHECKPOINT_NAME).is_file()


def test_checkpoint_of_other_data_is_not_resumed(data, tmp_path):
    _train(data, tmp_path, steps=2)
    images, labels = data
    other = (255 - images, labels)
    losses, _ = _train(other, tmp_path, steps=2)
    fresh, _ = _train(other, tmp_path / "fresh", steps=2)
    assert losses == fresh


def test_loss_falls_when_learning_a_plain_grey_image(tmp_path):
    images = np.full((4, SIZE, SIZE, 3), 128, dtype=np.uint8)
    settings = TrainSettings(steps=30, batch_size=4, lr=3e-3, seed=0)
    losses = train_ddpm(
        images, np.ones(4), tmp_path / "w", tmp_path / "ema", tmp_path / "l.csv", settings, "tiny", SIZE
    )
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_bad_settings_name_the_key():
    with pytest.raises(ConfigError, match="t_min"):
        TrainSettings(t_min=500, t_max=100)
    with pytest.raises(ConfigError, match="train.steps"):
        TrainSettings(steps=0)
