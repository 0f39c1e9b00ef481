"""The authors' pair of single-semantic DDPMs: training, saving, loading and extraction through it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from diffseg.errors import ConfigError
from diffseg.extract import ExtractionSettings, noise_differences, reduce_difference
from diffseg.model import load_model
from diffseg.semantic_pair import SemanticPair, is_pair
from diffseg.semantic_training import train_pair, train_semantics
from diffseg.semantics import HEALTHY, LESION
from diffseg.train import TrainSettings, train_ddpm

SIZE = 16


def trained_args(root, out: str) -> tuple:
    rng = np.random.default_rng(0)
    images = {
        "lesion": rng.integers(0, 80, (6, SIZE, SIZE, 3), dtype=np.uint8),
        "healthy": rng.integers(170, 256, (5, SIZE, SIZE, 3), dtype=np.uint8),
    }
    settings = TrainSettings(steps=3, batch_size=2, checkpoint_every=2, seed=1)
    return images, root / "training", root / out, root / f"{out}.csv", settings, {"healthy": [50, 60]}, "tiny", SIZE


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("pair")
    return root, train_pair(*trained_args(root, "ema"))


def test_pair_saves_one_network_per_semantic_and_a_loss_per_network(trained):
    root, losses = trained
    assert is_pair(root / "ema") and (root / "ema" / "lesion" / "config.json").is_file()
    loss = pd.read_csv(root / "ema.csv")
    assert list(loss.columns) == ["step", "loss", "loss_lesion", "loss_healthy"]
    assert np.allclose(loss["loss_lesion"], losses["lesion"]) and len(loss) == 3
    assert np.allclose(loss["loss"], (loss["loss_lesion"] + loss["loss_healthy"]) / 2)
    # Each network resumes from its own finished checkpoint: a second call gives the same pair.
    again = train_pair(*trained_args(root, "again"))
    assert again == losses
    assert (root / "again" / "healthy" / "diffusion_pytorch_model.safetensors").read_bytes() == (
        root / "ema" / "healthy" / "diffusion_pytorch_model.safetensors"
    ).read_bytes()


def test_each_semantic_is_predicted_by_its_own_network(trained):
    root, _ = trained
    pair = load_model(root / "ema", "cpu", "tiny", SIZE)
    assert isinstance(pair, SemanticPair) and not pair.training
    x_t = torch.randn(4, 3, SIZE, SIZE)
    t = torch.tensor([60, 60, 90, 90])
    labels = torch.tensor([HEALTHY, LESION, LESION, HEALTHY])
    routed = pair(x_t, t, class_labels=labels).sample
    for name, rows in (("healthy", [0, 3]), ("lesion", [1, 2])):
        alone = load_model(root / "ema" / name, "cpu", "tiny", SIZE)
        with torch.no_grad():
            expected = alone(x_t[rows], t[rows], class_labels=labels[rows]).sample
        assert torch.allclose(routed[rows], expected, atol=1e-5)


def test_extraction_runs_through_the_pair(trained):
    root, _ = trained
    pair = load_model(root / "ema")
    images = np.random.default_rng(2).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    settings = ExtractionSettings([60, 150], draws=1)
    maps = noise_differences(pair, images, ["a", "b"], settings, batch_size=4)
    assert maps.shape == (2, 2, SIZE, SIZE) and maps.max() > 0
    # Two different networks: their predictions differ even where one network's classes would not.
    eps = pair(torch.zeros(2, 3, SIZE, SIZE), torch.tensor([60, 60]), torch.tensor([HEALTHY, LESION])).sample
    assert reduce_difference(eps[:1], eps[1:], "abs_mean").mean() > 0


def test_a_semantic_without_a_network_is_named(trained):
    root, _ = trained
    pair = load_model(root / "ema")
    with pytest.raises(ConfigError, match="not for \\['null'\\]"):
        pair(torch.zeros(1, 3, SIZE, SIZE), torch.tensor([60]), class_labels=torch.tensor([2]))


def test_a_pair_of_another_image_size_is_refused(trained):
    root, _ = trained
    with pytest.raises(ConfigError, match="sample_size"):
        load_model(root / "ema", "cpu", "tiny", 32)


def test_train_semantics_trains_the_conditional_network_on_both_semantics(tmp_path):
    images, *_ = trained_args(tmp_path, "unused")
    outputs = dict(settings=TrainSettings(steps=2, batch_size=2, seed=1), preset="tiny", size=SIZE)
    conditional = {"model": "conditional", "a": "healthy", "b": "lesion", "t_ranges": {}}
    paths = dict(workdir=tmp_path / "w1", out_dir=tmp_path / "m1", loss_csv=tmp_path / "l1.csv")
    losses = train_semantics(images["lesion"], images["healthy"], conditional, **paths, **outputs)
    labels = [LESION] * len(images["lesion"]) + [HEALTHY] * len(images["healthy"])
    both = np.concatenate([images["lesion"], images["healthy"]])
    assert losses == train_ddpm(both, labels, tmp_path / "w2", tmp_path / "m2", tmp_path / "l2.csv", **outputs)
    assert not is_pair(tmp_path / "m1")


def test_train_semantics_trains_a_pair_only_of_healthy_and_lesion(tmp_path):
    images, *_ = trained_args(tmp_path, "unused")
    outputs = dict(settings=TrainSettings(steps=1, batch_size=2), preset="tiny", size=SIZE)
    outputs |= dict(workdir=tmp_path / "work", out_dir=tmp_path / "model", loss_csv=tmp_path / "loss.csv")
    pair = {"model": "pair", "a": "healthy", "b": "lesion", "t_ranges": {"healthy": [50, 60]}}
    losses = train_semantics(images["lesion"], images["healthy"], pair, **outputs)
    assert sorted(losses) == ["healthy", "lesion"] and is_pair(tmp_path / "model")
    with pytest.raises(ConfigError, match="set a and b"):
        train_semantics(images["lesion"], images["healthy"], pair | {"a": "null"}, **outputs)
    with pytest.raises(ConfigError, match="semantics.model"):
        train_semantics(images["lesion"], images["healthy"], pair | {"model": "triple"}, **outputs)
