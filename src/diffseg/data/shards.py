"""Which images a stage works on, and how they are cut into shards (Snakemake jobs).

Every per-shard rule recomputes its positions from the store with these functions, so shards
agree across rules without passing lists of ids through the workflow.
"""

from __future__ import annotations

import math

import numpy as np


def evaluation_positions(split: np.ndarray, label: np.ndarray, which: str = "test") -> np.ndarray:
    """Store positions of the lesion images of one split (the images that are segmented and scored)."""
    return np.flatnonzero((np.asarray(split).astype(str) == which) & (np.asarray(label) == 1))


def shard_count(n_images: int, shard_size: int) -> int:
    """How many shards `n_images` make; jobs grow with this, not with images."""
    return math.ceil(n_images / shard_size)


def shard_ids(n_images: int, shard_size: int) -> list[str]:
    """The ids (`0000`, `0001`, …) of the shards `n_images` make: the `{shard}` of per-shard files."""
    return [f"{i:04d}" for i in range(shard_count(n_images, shard_size))]


def evaluation_shard_ids(split: np.ndarray, label: np.ndarray, shard_size: int) -> list[str]:
    """The ids of the shards of a store's evaluation images (the test split's lesion images)."""
    return shard_ids(len(evaluation_positions(split, label)), shard_size)


def shard_positions(positions: np.ndarray, shard: int, shard_size: int) -> np.ndarray:
    """The slice of `positions` that shard number `shard` holds."""
    if not 0 <= shard < max(1, shard_count(len(positions), shard_size)):
        raise IndexError(f"shard {shard} is out of range for {len(positions)} images in shards of {shard_size}")
    return np.asarray(positions)[shard * shard_size : (shard + 1) * shard_size]


def store_shard(store, shard: int, shard_size: int, which: str = "test") -> np.ndarray:
    """Positions in an `ImageStore` of the images of evaluation shard `shard`."""
    return shard_positions(evaluation_positions(store.split, store.label, which), shard, shard_size)
