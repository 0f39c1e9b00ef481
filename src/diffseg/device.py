"""Where the networks run, and the seeds that make a run repeatable."""

from __future__ import annotations

import random

import numpy as np
import torch

from diffseg.errors import ConfigError
from diffseg.logs import log


def pick_device(prefer: str = "auto") -> torch.device:
    """CUDA when a GPU is visible (or asked for), else CPU; the choice goes to the log.

    `prefer` is "auto", "cuda" or "cpu". Asking for CUDA on a machine without one is an error rather
    than a silent fallback, because a CPU run of the `paper` preset would take days.
    """
    if prefer not in ("auto", "cuda", "cpu"):
        raise ConfigError(f"device: {prefer!r} is not one of auto, cuda, cpu")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was asked for but torch sees no GPU")
    use_cuda = prefer == "cuda" or (prefer == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    if use_cuda:
        log.info("device: cuda (%s)", torch.cuda.get_device_name(device))
    else:
        log.info("device: cpu (%d torch threads)", torch.get_num_threads())
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all GPUs too)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
