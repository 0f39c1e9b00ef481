"""The DDPM network presets, saving and loading with the preset check."""

from __future__ import annotations

import pytest
import torch

from diffseg.method.model import build_unet, load_model, save_model, unet_config
from diffseg.method.semantics import semantic_id
from diffseg.runtime.atomic import atomic_dir
from diffseg.runtime.errors import BadInputError, ConfigError


def test_saved_model_loads_with_the_same_weights(tmp_path):
    unet = build_unet("tiny", 16)
    save_model(unet, tmp_path / "ema")
    loaded = load_model(tmp_path / "ema", preset="tiny", image_size=16)
    for name, value in unet.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name


def test_loading_with_another_preset_names_the_differing_keys(tmp_path):
    save_model(build_unet("tiny", 16), tmp_path / "ema")
    with pytest.raises(ConfigError, match="block_out_channels"):
        load_model(tmp_path / "ema", preset="paper", image_size=16)


def test_loading_a_folder_without_a_model_names_it(tmp_path):
    with pytest.raises(BadInputError, match="config.json"):
        load_model(tmp_path)


def test_image_size_must_suit_the_preset_depth():
    with pytest.raises(ConfigError, match="multiple of 4"):
        unet_config("tiny", 18)


def test_semantics_by_name_and_id():
    assert [semantic_id(s) for s in ("healthy", "lesion", "null", 1)] == [0, 1, 2, 1]
    with pytest.raises(ConfigError):
        semantic_id("melanoma")


def test_atomic_dir_replaces_the_target_only_on_success(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("second")
        raise RuntimeError("killed")
    assert (target / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
