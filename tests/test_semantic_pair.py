"""Pairs of single-semantic DDPMs (two independent ones, and the authors' fine-tuned pair): training,
saving, loading and extraction through them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from diffusers.models.unets.unet_2d import UNet2DOutput

from diffseg.data.healthy import border_crops
from diffseg.data.lesion_views import lesion_training_set
from diffseg.method.extraction import ExtractionSettings, noise_differences, reduce_difference
from diffseg.method.model import build_scheduler, load_model
from diffseg.method.prediction import noise_from_sample
from diffseg.method.semantic_pair import PAIR_FILE, SemanticPair, is_pair
from diffseg.method.semantic_training import (
    PairSettings,
    answering_to_healthy,
    train_finetuned_pair,
    train_pair,
    train_semantics,
)
from diffseg.method.semantics import HEALTHY, LESION
from diffseg.method.training import NetworkSpec, TrainingPaths, TrainSettings, noisy_sample, train_ddpm
from diffseg.runtime.errors import BadInputError, ConfigError

SIZE = 16
TINY = NetworkSpec("tiny", SIZE, "cpu")


def trained_args(root, out: str) -> tuple:
    rng = np.random.default_rng(0)
    images = {
        "lesion": rng.integers(0, 80, (6, SIZE, SIZE, 3), dtype=np.uint8),
        "healthy": rng.integers(170, 256, (5, SIZE, SIZE, 3), dtype=np.uint8),
    }
    settings = TrainSettings(steps=3, batch_size=2, checkpoint_every=2, seed=1)
    return images, TrainingPaths(root / "training", root / out, root / f"{out}.csv"), settings, {"healthy": [50, 60]}, TINY


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


def test_a_pair_saved_before_predictions_were_recorded_predicts_noise(trained, tmp_path):
    root, _ = trained
    assert json.loads((root / "ema" / PAIR_FILE).read_text())["predictions"] == {
        "lesion": "epsilon",
        "healthy": "epsilon",
    }
    shutil.copytree(root / "ema", tmp_path / "old")
    (tmp_path / "old" / PAIR_FILE).write_text(json.dumps({"semantics": ["lesion", "healthy"]}))
    old = load_model(tmp_path / "old")
    assert old.predictions == {"lesion": "epsilon", "healthy": "epsilon"}
    (tmp_path / "old" / PAIR_FILE).write_text(json.dumps({"semantics": ["lesion"], "predictions": {"lesion": "v"}}))
    with pytest.raises(BadInputError, match="prediction 'v'"):
        load_model(tmp_path / "old")


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
    outputs = dict(settings=TrainSettings(steps=2, batch_size=2, seed=1), network=TINY)
    conditional = {"model": "conditional", "a": "healthy", "b": "lesion", "t_ranges": {}}
    paths = TrainingPaths(tmp_path / "w1", tmp_path / "m1", tmp_path / "l1.csv")
    losses = train_semantics(images["lesion"], images["healthy"], conditional, paths=paths, **outputs)
    labels = [LESION] * len(images["lesion"]) + [HEALTHY] * len(images["healthy"])
    both = np.concatenate([images["lesion"], images["healthy"]])
    paths = TrainingPaths(tmp_path / "w2", tmp_path / "m2", tmp_path / "l2.csv")
    assert losses == train_ddpm(both, labels, paths, **outputs)
    assert not is_pair(tmp_path / "m1")
    # Zoomed lesion views join the lesion class, after the whole frames.
    paths = TrainingPaths(tmp_path / "w3", tmp_path / "m3", tmp_path / "l3.csv")
    zoomed = train_semantics(images["lesion"], images["healthy"], conditional, lesion_zooms=[2], paths=paths, **outputs)
    lesions = lesion_training_set(images["lesion"], [2])
    labels = [LESION] * len(lesions) + [HEALTHY] * len(images["healthy"])
    both = np.concatenate([lesions, images["healthy"]])
    paths = TrainingPaths(tmp_path / "w4", tmp_path / "m4", tmp_path / "l4.csv")
    assert zoomed == train_ddpm(both, labels, paths, **outputs)


def test_train_semantics_trains_a_pair_only_of_healthy_and_lesion(tmp_path):
    images, *_ = trained_args(tmp_path, "unused")
    outputs = dict(settings=TrainSettings(steps=1, batch_size=2), network=TINY)
    outputs |= dict(paths=TrainingPaths(tmp_path / "work", tmp_path / "model", tmp_path / "loss.csv"))
    pair = {"model": "pair", "a": "healthy", "b": "lesion", "t_ranges": {"healthy": [50, 60]}}
    losses = train_semantics(images["lesion"], images["healthy"], pair, **outputs)
    assert sorted(losses) == ["healthy", "lesion"] and is_pair(tmp_path / "model")
    with pytest.raises(ConfigError, match="set a and b"):
        train_semantics(images["lesion"], images["healthy"], pair | {"a": "null"}, **outputs)
    with pytest.raises(ConfigError, match="semantics.model"):
        train_semantics(images["lesion"], images["healthy"], pair | {"model": "triple"}, **outputs)


ALPHAS_CUMPROD = build_scheduler().alphas_cumprod


def test_the_noise_an_x0_prediction_implies_is_the_noise_that_made_x_t():
    generator = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 3, 8, 8, generator=generator) * 2 - 1
    noise = torch.randn(4, 3, 8, 8, generator=generator)
    t = torch.tensor([0, 55, 150, 999])
    x_t = noisy_sample(x0, noise, t, ALPHAS_CUMPROD)
    assert torch.allclose(noise_from_sample(x_t, x0, t, ALPHAS_CUMPROD), noise, atol=1e-4)


class Predicts(torch.nn.Module):
    """A stand-in network that predicts the same output whatever its input."""

    def __init__(self, output: torch.Tensor, config):
        super().__init__()
        self.output, self.config = output, config
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x_t, t, class_labels):
        return UNet2DOutput(sample=self.output.expand(len(x_t), -1, -1, -1))


def test_a_pair_turns_an_x0_prediction_into_the_noise_and_passes_a_noise_through():
    x0 = torch.full((1, 3, 4, 4), 0.5)
    noise = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([60, 60])
    x_t = noisy_sample(x0.expand(2, -1, -1, -1), noise, t, ALPHAS_CUMPROD)
    networks = {"lesion": Predicts(x0, {}), "healthy": Predicts(noise[1:], {})}
    pair = SemanticPair(networks, {"lesion": "sample", "healthy": "epsilon"}, ALPHAS_CUMPROD)
    routed = pair(x_t, t, class_labels=torch.tensor([LESION, HEALTHY])).sample
    assert torch.allclose(routed[0], noise[0], atol=1e-4)  # computed from x̂₀ = x0
    assert torch.equal(routed[1], noise[1])  # predicted as it is


def finetuned_args(root, out: str, finetune_steps: int) -> dict:
    lesions = np.random.default_rng(3).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    return dict(
        lesions=lesions,
        healthy=border_crops(lesions, 0.25, 4),
        paths=TrainingPaths(root / "training", root / out, root / f"{out}.csv"),
        settings=TrainSettings(steps=4, batch_size=2, checkpoint_every=2, seed=2),
        pair=PairSettings(t_ranges={}, finetune_t_range=[50, 60], finetune_steps=finetune_steps),
        network=TINY,
        healthy_per_lesion=4,
    )


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetuned")
    return root, train_finetuned_pair(**finetuned_args(root, "ema", finetune_steps=5))


def test_the_fine_tune_resumes_to_the_weights_of_an_uninterrupted_run(finetuned, tmp_path):
    root, straight = finetuned
    train_finetuned_pair(**finetuned_args(tmp_path, "killed", finetune_steps=3))  # killed after step 3
    resumed = train_finetuned_pair(**finetuned_args(tmp_path, "ema", finetune_steps=5))
    assert resumed == straight and len(straight["lesion"]) == 4 and len(straight["healthy"]) == 5
    for name in ("lesion", "healthy"):
        weights = f"{name}/diffusion_pytorch_model.safetensors"
        assert (tmp_path / "ema" / weights).read_bytes() == (root / "ema" / weights).read_bytes()
    loss = pd.read_csv(root / "ema.csv")
    assert list(loss["network"]) == ["lesion"] * 4 + ["healthy"] * 5
    assert np.allclose(loss["loss"], straight["lesion"] + straight["healthy"])


def test_the_fine_tuned_pair_is_saved_as_two_x0_networks_that_load_and_route(finetuned):
    root, _ = finetuned
    saved = json.loads((root / "ema" / PAIR_FILE).read_text())
    assert saved["predictions"] == {"lesion": "sample", "healthy": "sample"}
    pair = load_model(root / "ema", "cpu", "tiny", SIZE)
    x_t, t, labels = torch.randn(2, 3, SIZE, SIZE), torch.tensor([60, 60]), torch.tensor([HEALTHY, LESION])
    routed = pair(x_t, t, class_labels=labels).sample
    for row, name in ((0, "healthy"), (1, "lesion")):
        alone = load_model(root / "ema" / name, "cpu", "tiny", SIZE)
        rows = slice(row, row + 1)
        with torch.no_grad():
            x0_hat = alone(x_t[rows], t[rows], class_labels=labels[rows]).sample
        implied = noise_from_sample(x_t[rows], x0_hat, t[rows], ALPHAS_CUMPROD)
        assert torch.allclose(routed[rows], implied, atol=1e-4)
    settings = ExtractionSettings([60, 150], draws=1)
    images = np.random.default_rng(4).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    maps = noise_differences(pair, images, ["a", "b"], settings, batch_size=4)
    assert maps.shape == (2, 2, SIZE, SIZE) and np.isfinite(maps).all() and maps.max() > 0


def test_the_fine_tune_starts_from_the_lesion_network_under_the_healthy_label(finetuned):
    root, _ = finetuned
    lesion = load_model(root / "ema" / "lesion")
    start = answering_to_healthy(lesion)
    x_t, t = torch.randn(1, 3, SIZE, SIZE), torch.tensor([55])
    with torch.no_grad():
        as_lesion = lesion(x_t, t, class_labels=torch.tensor([LESION])).sample
        as_healthy = start(x_t, t, class_labels=torch.tensor([HEALTHY])).sample
    assert torch.allclose(as_lesion, as_healthy, atol=1e-6)
    # ... and fine-tuning moved it away from there.
    healthy = load_model(root / "ema" / "healthy")
    with torch.no_grad():
        tuned = healthy(x_t, t, class_labels=torch.tensor([HEALTHY])).sample
    assert not torch.allclose(tuned, as_healthy, atol=1e-3)


def test_train_semantics_fine_tunes_a_pair_at_its_own_t_range_only(tmp_path):
    args = finetuned_args(tmp_path, "model", finetune_steps=None)
    lesions, healthy = args.pop("lesions"), args.pop("healthy")
    for key in ("pair", "healthy_per_lesion"):
        args.pop(key)
    semantics = {"model": "finetuned_pair", "a": "healthy", "b": "lesion", "t_ranges": {},
                 "finetune_steps": None, "finetune_t_range": [50, 60]}  # fmt: skip
    losses = train_semantics(lesions, healthy, semantics, healthy_per_lesion=4, **args)
    assert len(losses["lesion"]) == 4 and len(losses["healthy"]) == 1  # train.steps // 4
    assert is_pair(tmp_path / "model")
    with pytest.raises(ConfigError, match="finetune_t_range"):
        train_semantics(lesions, healthy, semantics | {"t_ranges": {"healthy": [0, 10]}}, **args)
    with pytest.raises(ConfigError, match="lesion_views.zooms"):  # zoomed views have no skin of their own
        train_semantics(lesions, healthy, semantics, healthy_per_lesion=4, lesion_zooms=[2], **args)
