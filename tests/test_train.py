"""DDPM training: repeatable, resumable from a checkpoint with the same final state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from diffseg.method.model import load_model
from diffseg.method.training import (
    CHECKPOINT_NAME,
    NetworkSpec,
    SampleTargets,
    TrainingPaths,
    TrainSettings,
    _draw_batch,
    balanced_picks,
    train_ddpm,
)
from diffseg.runtime.errors import ConfigError

SIZE = 16
TINY = NetworkSpec("tiny", SIZE, "cpu")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, SIZE, SIZE, 3), dtype=np.uint8)
    return images, np.array([1, 1, 1, 0, 0, 0])


def _train(data, root, steps, checkpoint_every=2):
    settings = TrainSettings(steps=steps, batch_size=4, checkpoint_every=checkpoint_every, seed=3)
    losses = train_ddpm(*data, TrainingPaths(root / "work", root / "ema", root / "loss.csv"), settings, TINY)
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
    paths = TrainingPaths(tmp_path / "w", tmp_path / "ema", tmp_path / "l.csv")
    losses = train_ddpm(images, np.ones(4), paths, settings, TINY)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_bad_settings_name_the_key():
    with pytest.raises(ConfigError, match="t_min"):
        TrainSettings(t_min=500, t_max=100)
    with pytest.raises(ConfigError, match="train.steps"):
        TrainSettings(steps=0)
    with pytest.raises(ConfigError, match="lesion_share"):
        TrainSettings(lesion_share=1.5)


def test_semantics_are_drawn_in_the_configured_ratio_whatever_their_image_counts():
    labels = torch.tensor([1] * 10 + [0] * 40)  # four healthy crops per lesion image
    for share in (0.5, 0.3):
        picks = balanced_picks(labels, 20_000, share, torch.Generator().manual_seed(0))
        realised = float((labels[picks] == 1).float().mean())
        assert abs(realised - share) < 0.015, (share, realised)
    # Within a semantic every image is drawn, about equally often.
    counts = torch.bincount(picks, minlength=len(labels))
    assert counts.min() > 0 and counts[:10].float().std() / counts[:10].float().mean() < 0.1
    # Uniform sampling would have drawn lesion images a fifth of the time; 0.5 draws ~1:1.
    picks = balanced_picks(labels, 20_000, 0.5, torch.Generator().manual_seed(1))
    lesion = int((labels[picks] == 1).sum())
    assert 0.95 < lesion / (len(picks) - lesion) < 1.05


def test_one_semantic_alone_is_drawn_uniformly():
    picks = balanced_picks(torch.ones(5, dtype=torch.long), 1000, 0.5, torch.Generator().manual_seed(0))
    assert set(picks.tolist()) == set(range(5))


def test_the_run_records_how_many_lesion_and_healthy_images_it_drew(tmp_path, caplog):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (10, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.array([1, 1] + [0] * 8)
    settings = TrainSettings(steps=40, batch_size=8, seed=0, lesion_share=0.5)
    with caplog.at_level("INFO", logger="diffseg"):
        train_ddpm(images, labels, TrainingPaths(tmp_path / "w", tmp_path / "ema", tmp_path / "loss.csv"), settings, TINY)
    loss = pd.read_csv(tmp_path / "loss.csv")
    assert (loss["lesion_draws"] + loss["healthy_draws"] == 8).all()
    lesion, healthy = int(loss["lesion_draws"].sum()), int(loss["healthy_draws"].sum())
    assert 0.4 < lesion / (lesion + healthy) < 0.6  # 320 draws; uniform drawing would give 0.2
    assert f"{lesion} lesion, {healthy} healthy" in caplog.text


def test_a_sample_prediction_draws_each_image_a_target_among_its_own_rows():
    pixels = torch.arange(3, dtype=torch.float32)[:, None, None, None].expand(3, 3, 4, 4).contiguous()
    own = torch.arange(6, dtype=torch.float32)[:, None, None, None].expand(6, 3, 4, 4).contiguous()
    settings = TrainSettings(batch_size=64, seed=0)
    classes = torch.ones(3, dtype=torch.long)
    batch = _draw_batch(pixels, classes, (own, 2), settings, torch.Generator().manual_seed(0), "cpu")
    x0, target = batch[0][:, 0, 0, 0], batch[1][:, 0, 0, 0]
    assert set((target // 2 == x0).tolist()) == {True}  # image i's targets are rows 2i and 2i + 1
    assert set(target.tolist()) == set(range(6))
    anywhere = _draw_batch(pixels, classes, (own, 0), settings, torch.Generator().manual_seed(0), "cpu")
    assert not (anywhere[1][:, 0, 0, 0] // 2 == anywhere[0][:, 0, 0, 0]).all()


def test_targets_need_sample_prediction_and_a_whole_number_per_image(data, tmp_path):
    images, labels = data
    settings = TrainSettings(steps=1, batch_size=2)
    run = (images, labels, TrainingPaths(tmp_path / "w", tmp_path / "e", tmp_path / "l.csv"), settings, TINY)
    with pytest.raises(ValueError, match="prediction 'sample'"):
        train_ddpm(*run, targets=SampleTargets(images, 1))
    with pytest.raises(ValueError, match="per image"):
        train_ddpm(*run, prediction="sample", targets=SampleTargets(images[:5], 1))
