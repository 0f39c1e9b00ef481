"""Per-shard HDF5 files of per-image maps (probabilities, fused masks, baselines).

One format for every stage that produces one or more `(n, H, W)` maps for the images of a shard:
`index` (store positions), `ids`, and one dataset per map, chunked one image per chunk.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from diffseg.runtime.atomic import atomic_path
from diffseg.runtime.errors import BadInputError


def write_maps(path: str | os.PathLike, index: np.ndarray, ids, attrs: dict | None = None, **maps: np.ndarray) -> None:
    """Write `maps` (each `(n, H, W)`) for the images at store positions `index`, atomically."""
    index = np.asarray(index, dtype=np.int64)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("index", data=index)
        h5.create_dataset("ids", data=np.asarray(ids, dtype=object), dtype=h5py.string_dtype())
        for name, values in maps.items():
            values = np.asarray(values)
            if values.shape[0] != len(index):
                raise ValueError(f"map {name!r} has {values.shape[0]} images, index has {len(index)}")
            chunks = (1, *values.shape[1:]) if len(index) else None
            h5.create_dataset(name, data=values, chunks=chunks, compression="gzip", shuffle=True)
        for key, value in (attrs or {}).items():
            h5.attrs[key] = value


def read_maps(path: str | os.PathLike, *names: str) -> dict[str, np.ndarray]:
    """Read `index`, `ids` and the named maps of a per-shard file into memory (one shard is small)."""
    with open_shard(path, ("index", "ids", *names), "per-shard map file") as h5:
        try:
            out = {"index": h5["index"][()], "ids": h5["ids"].asstr()[()]}
            out.update({name: h5[name][()] for name in names})
        except OSError as error:  # a chunk that does not decompress: the file was cut short
            raise BadInputError(path, f"unreadable data ({error}); delete it to regenerate") from error
        out["attrs"] = dict(h5.attrs)
    return out


def open_shard(path: str | os.PathLike, required: tuple[str, ...], what: str) -> h5py.File:
    """Open a per-shard HDF5 file read-only; a BadInputError names it if unreadable or missing `required`."""
    try:
        shard = h5py.File(path, "r")
    except OSError as error:
        raise BadInputError(path, f"not a readable HDF5 file ({error}); delete it to regenerate") from error
    missing = [name for name in required if name not in shard]
    if missing:
        shard.close()
        raise BadInputError(path, f"{what} lacks dataset(s) {', '.join(missing)}; delete it to regenerate")
    return shard
