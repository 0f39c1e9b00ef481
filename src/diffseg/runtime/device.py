"""Where the networks run, and the seeds that make a run repeatable."""

from __future__ import annotations

import random

import numpy as np
import torch

from diffseg.runtime.errors import ConfigError
from diffseg.runtime.logs import log


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
    log.info("device: %s", f"cuda ({device_name(device)})" if use_cuda else device_name(device))
    return device


def device_name(device: torch.device) -> str:
    """The GPU's name (`NVIDIA H200`), or `cpu (2 threads)`, torch's threads: what ran a log's or a
    benchmark row's work."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def synchronise(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timing ends when the work does (CUDA is asynchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all GPUs too)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
