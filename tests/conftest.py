"""Shared fixtures: paths of the repository and of the shared real ISIC 2017 sample."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ISIC_SAMPLE = REPO.parent / "shared" / "data" / "isic2017_sample"

# Unit tests share two cores with whatever else runs; one thread per test process keeps them steady.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def isic_sample() -> Path:
    """The 98 real ISIC 2017 images with masks beside the checkout (not part of the repository)."""
    if not (ISIC_SAMPLE / "images").is_dir():
        pytest.skip(f"the shared ISIC 2017 sample is not at {ISIC_SAMPLE}")
    return ISIC_SAMPLE
