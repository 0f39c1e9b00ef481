"""The one conversion between the store's pixels and what every network of the pipeline sees."""

from __future__ import annotations

import numpy as np
import torch


def to_network_input(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 RGB `(N, H, W, 3)` → float32 `(N, 3, H, W)` in [-1, 1] on `device`."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return tensor.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
