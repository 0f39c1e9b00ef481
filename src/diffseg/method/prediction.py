"""What a network is trained to predict, and the noise its prediction implies (docs/method.md §1, §7).

- `epsilon` (ours): the noise ε of x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε.
- `sample` (the authors' code): the clean image x̂₀. The noise it implies is
  ε̂ = (x_t − √ᾱ_t x̂₀) / √(1 − ᾱ_t), so extraction compares noises whatever each network predicts.

The names are diffusers' `prediction_type`s.
"""

from __future__ import annotations

import torch

PREDICTIONS = ("epsilon", "sample")


def checked_prediction(prediction: str) -> str:
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction {prediction!r} is not one of {PREDICTIONS}")
    return prediction


def noise_from_sample(
    x_t: torch.Tensor, sample: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor
) -> torch.Tensor:
    """ε̂ = (x_t − √ᾱ_t x̂₀) / √(1 − ᾱ_t) for a batch `(N, C, H, W)`, ᾱ indexed by each row's t.

    In float32 whatever the autocast dtype of `sample`: 1 / √(1 − ᾱ_t) magnifies its rounding
    (about 10x at t = 10).
    """
    abar = alphas_cumprod.to(x_t.device)[t].float()[:, None, None, None]
    return (x_t.float() - abar.sqrt() * sample.float()) / (1 - abar).sqrt()
