"""The image's darkness mixed into DenseCRF's seed where the diffusion vote is unsure (large lesions).

On a lesion that fills much of the frame the per-step masks disagree over most of it: the ambiguous
region covers the frame and the vote (their mean) marks a small central or lighter patch, from which
the colour model and DenseCRF grow too little. On the 52 ISIC 2017 val images never used for any
choice, DiffSeg + DenseCRF reached Dice 0.388 on lesions over half the frame, against 0.719 for
Otsu's darkness mask fused the same way (docs/dermoscopy_run.md). Where the vote is unsure, the
training-free darkness mask (`diffseg.evaluation.otsu_baseline`) is mixed into the seed:

    seed = (1 − w) · vote + w · darkness mask     on an image whose ambiguous region covers ≥ a of the frame

with w = `crf.darkness_weight` (0, the default: off) and a = `crf.darkness_when_ambiguous` (0: every
image). Both terms are label-free. Like every post-training setting, w and a are chosen on the
development split (benchmark candidates), never on the test split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from diffseg.runtime.errors import ConfigError

# An image `(H, W, 3)` uint8 → its darkness mask `(H, W)` bool. The rule scripts pass the Otsu
# baseline's (`diffseg.evaluation.otsu_baseline.otsu_segment` with the run's `otsu` settings), which
# sits a layer above the method and so is handed in rather than imported.
DarknessMask = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class DarknessSeed:
    """`crf.darkness_weight`, `crf.darkness_when_ambiguous` and the function giving the darkness mask."""

    weight: float = 0.0
    when_ambiguous: float = 0.0
    mask: DarknessMask | None = None

    def __post_init__(self):
        if self.weight > 0 and self.mask is None:
            raise ValueError("a darkness seed with a weight needs the function giving the darkness mask")
        if not 0 <= self.weight <= 1:
            raise ConfigError(f"crf.darkness_weight must lie in [0, 1], got {self.weight!r}")
        if not 0 <= self.when_ambiguous <= 1:
            raise ConfigError(f"crf.darkness_when_ambiguous must lie in [0, 1], got {self.when_ambiguous!r}")

    @property
    def active(self) -> bool:
        return self.weight > 0

    def applies(self, ambiguous: np.ndarray) -> bool:
        """Whether an image whose ambiguous region is `ambiguous` `(H, W)` gets the darkness mixed in."""
        return self.active and float(np.mean(ambiguous)) >= self.when_ambiguous

    def seed(self, image: np.ndarray, vote: np.ndarray, ambiguous: np.ndarray) -> np.ndarray:
        """DenseCRF's seed `(H, W)` float32 for `image` `(H, W, 3)` uint8: the vote, or the vote mixed
        with the image's darkness mask where `applies`."""
        vote = np.asarray(vote, dtype=np.float32)
        if not self.applies(ambiguous):
            return vote
        darkness = np.asarray(self.mask(image), dtype=np.float32)
        return ((1 - self.weight) * vote + self.weight * darkness).astype(np.float32)
