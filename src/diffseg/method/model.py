"""The noise-prediction network ε_θ(x_t, t, c), its noise schedule, and saving/loading it.

One class-conditional diffusers `UNet2DModel`: the semantic label c (healthy / lesion / null) is a
learned class embedding added to the time embedding.
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DModel

from diffseg.method.semantic_pair import is_pair, load_pair
from diffseg.runtime.atomic import atomic_dir
from diffseg.runtime.errors import BadInputError, ConfigError

# Architecture of each preset; sample_size and num_class_embeds are added by `unet_config`.
PRESETS: dict[str, dict] = {
    # CPU default: trains a 64-px demo in minutes on two cores. No attention: at 64 px the
    # receptive field of three levels already covers a lesion, and attention doubled the step time.
    # 16 channels at full resolution: that level dominates the cost, and 32 made a step 2.5x slower.
    "tiny": dict(
        block_out_channels=(16, 32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D", "UpBlock2D"),
        add_attention=False,
        norm_num_groups=8,
    ),
    # The authors' network (docs/method.md §7): 96 base channels, multipliers (1, 2, 2), no attention,
    # two residual blocks per level, 128-px input, for a GPU.
    "paper": dict(
        block_out_channels=(96, 192, 192),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D", "UpBlock2D"),
        add_attention=False,
        norm_num_groups=32,
    ),
}

# Keys of a saved config.json that must match the requested preset for a checkpoint to be usable.
_ARCHITECTURE_KEYS = (*PRESETS["tiny"].keys(), "sample_size", "num_class_embeds")


def unet_config(preset: str, image_size: int, num_classes: int = 3) -> dict:
    """The `UNet2DModel` keyword arguments of a preset at one image size."""
    if preset not in PRESETS:
        raise ConfigError(f"model preset {preset!r} is not one of {sorted(PRESETS)}")
    config = dict(PRESETS[preset])
    factor = 2 ** (len(config["block_out_channels"]) - 1)
    if image_size % factor:
        raise ConfigError(f"image size {image_size} must be a multiple of {factor} for preset {preset!r}")
    config.update(sample_size=image_size, num_class_embeds=num_classes)
    return config


def build_unet(preset: str, image_size: int, num_classes: int = 3) -> UNet2DModel:
    """A freshly initialised class-conditional ε_θ of the given preset."""
    return UNet2DModel(**unet_config(preset, image_size, num_classes))


def build_scheduler(num_train_timesteps: int = 1000) -> DDPMScheduler:
    """DDPM schedule of Ho et al.: linear β from 1e-4 to 0.02, the network predicts ε."""
    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule="linear",
        beta_start=1e-4,
        beta_end=0.02,
        prediction_type="epsilon",
    )


def save_model(unet: UNet2DModel, directory: str | os.PathLike) -> Path:
    """Save config.json and the safetensors weights to `directory`, atomically."""
    with atomic_dir(directory) as tmp:
        unet.save_pretrained(tmp, safe_serialization=True)
    return Path(directory)


def load_model(
    directory: str | os.PathLike,
    device: torch.device | str = "cpu",
    preset: str | None = None,
    image_size: int | None = None,
) -> UNet2DModel:
    """Load a model saved by `save_model` (or a `semantic_pair` of them), in eval mode on `device`.

    With `preset` (and `image_size`) given, the saved architecture must be that preset's, otherwise a
    `ConfigError` names the file and each differing key, rather than a shape error deep in torch.
    """
    if is_pair(directory):
        load_network = partial(load_model, device=device, preset=preset, image_size=image_size)
        return load_pair(directory, load_network, build_scheduler().alphas_cumprod).eval()
    config_path = Path(directory) / "config.json"
    if not config_path.is_file():
        raise BadInputError(directory, "no saved model here (config.json is missing)")
    if preset is not None:
        saved = json.loads(config_path.read_text(encoding="utf-8"))
        wanted = unet_config(preset, image_size if image_size is not None else saved.get("sample_size"))
        differ = [
            f"{key}={_plain(saved.get(key))} (preset {preset!r} at {wanted['sample_size']} px needs "
            f"{_plain(wanted[key])})"
            for key in _ARCHITECTURE_KEYS
            if _plain(saved.get(key)) != _plain(wanted[key])
        ]
        if differ:
            raise ConfigError(
                f"{config_path}: checkpoint does not match the requested model: " + "; ".join(differ)
            )
    try:
        unet = UNet2DModel.from_pretrained(directory, use_safetensors=True)
    except (OSError, ValueError, RuntimeError) as error:
        # A write killed before atomic saving existed, or a copy cut short, leaves unreadable weights.
        raise BadInputError(directory, f"unreadable model weights ({error}); delete the folder to retrain") from error
    return unet.to(device).eval()


def _plain(value):
    """JSON turns tuples into lists; compare both as lists."""
    return list(value) if isinstance(value, tuple | list) else value
