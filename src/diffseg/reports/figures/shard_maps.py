"""The maps of chosen test images, gathered from every evaluation shard of a run.

The paper's panels show the first images of the first shard; the overview figure and the report's
review-first page show images chosen by their scores (spread by Dice, or flagged for review), which
may lie in any shard. All maps are at model resolution, as the store's image and expert mask are.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from diffseg.data.maps import open_shard
from diffseg.data.store import ImageStore
from diffseg.reports.figures.panels import Example, store_example
from diffseg.runtime.errors import BadInputError


@dataclass
class ShardMaps(Example):
    consistent: np.ndarray  # (H, W) bool: every step marks lesion
    ambiguous: np.ndarray  # (H, W) bool: the steps disagree
    posterior: np.ndarray  # (H, W) float32: DenseCRF's lesion probability
    labels: np.ndarray  # (H, W) bool: the fused mask


def read_shard_maps(
    store: ImageStore,
    regions_paths: Sequence[str | os.PathLike],
    crf_paths: Sequence[str | os.PathLike],
    ids: Sequence[str],
) -> list[ShardMaps]:
    """The maps of the images `ids`, in that order, from the regions and DenseCRF files of the same
    shards (`regions_paths[k]` and `crf_paths[k]` hold the same images); a BadInputError names an
    image no shard holds."""
    wanted, found = set(ids), {}
    for regions_path, crf_path in zip(regions_paths, crf_paths, strict=True):
        with open_shard(regions_path, ("index", "ids", "consistent", "ambiguous"), "regions file") as regions, \
                open_shard(crf_path, ("ids", "posterior", "labels"), "DenseCRF file") as crf:
            shard_ids = list(regions["ids"].asstr()[()])
            if list(crf["ids"].asstr()[()]) != shard_ids:
                raise BadInputError(crf_path, f"holds other images than {regions_path}; delete both to regenerate")
            for j, image_id in enumerate(shard_ids):
                if image_id in wanted:
                    found[image_id] = ShardMaps(
                        **store_example(store, int(regions["index"][j]), image_id),
                        consistent=regions["consistent"][j].astype(bool),
                        ambiguous=regions["ambiguous"][j].astype(bool),
                        posterior=crf["posterior"][j].astype(np.float32),
                        labels=crf["labels"][j].astype(bool),
                    )
    missing = [image_id for image_id in ids if image_id not in found]
    if missing:
        where = regions_paths[0] if regions_paths else "the run's regions"
        raise BadInputError(where, f"no shard holds image(s) {', '.join(missing[:5])} of the scores")
    return [found[image_id] for image_id in ids]
