"""Noise differences under two semantics, one map per noise-addition step (docs/method.md §2).

For an image x_0, a step t and noise draw k: x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε_k, and the
model predicts the noise under semantic a and semantic b from the same x_t. The map D_t reduces
ε_a − ε_b over draws and channels:
- `abs_mean` (default): mean over draws and channels of |ε_a − ε_b|; high over the lesion.
- `luma_signed` (the authors' code, docs/method.md §7): each prediction to luma (0.299, 0.587, 0.114),
  shifted to minimum 0, D = g_a − 1.5 · g_b, averaged over draws; low over the lesion.

ε_k is drawn from a generator seeded by (seed, image id, t, k), so a map does not depend on batch
size, shard, image order or device. Work items (image, step, draw) are cut into batches whatever
image they belong to; each batch is one forward pass over both semantics.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from diffseg.method.model import build_scheduler
from diffseg.method.semantics import semantic_id
from diffseg.runtime.atomic import atomic_path
from diffseg.runtime.errors import BadInputError
from diffseg.runtime.logs import log, progress
from diffseg.runtime.tensors import to_network_input

REDUCTIONS = ("abs_mean", "luma_signed")
LUMA = (0.299, 0.587, 0.114)
LUMA_LESION_WEIGHT = 1.5  # the authors' D = g_healthy − 1.5 · g_lesion
CPU_BATCH = 64  # forward rows on a CPU: larger batches gain nothing and cost memory
_STR = h5py.string_dtype("utf-8")
_JOINED = ("index", "ids", "diff")


def step_noise(base_seed: int, image_id: str, t: int, draw: int, shape: Sequence[int]) -> torch.Tensor:
    """ε_k of one image, step and draw: standard normal of `shape`, float32 on the CPU.

    The seed is a hash of (base_seed, image id, t, k) (not Python's `hash`, which varies per process).
    """
    key = f"{int(base_seed)}\x1f{image_id}\x1f{int(t)}\x1f{int(draw)}".encode()
    seed = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1
    return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(seed))


@dataclass(frozen=True)
class ExtractionSettings:
    """How maps are made: the schema's `extraction` steps, draws and seed, `semantics.a` and `b`, and
    `difference.reduce`.

    - `steps`: the noise-addition steps t, one map each;
    - `draws`: noise draws K averaged per step (the same draws for both semantics);
    - `semantic_a`, `semantic_b`: the semantics whose predicted noises are compared (a name or id, held as the id);
    - `reduce`: how a draw's two predictions become a map, one of `REDUCTIONS` (see the module doc);
    - `base_seed`: the seed of every noise draw (`step_noise`).
    """

    steps: Sequence[int]
    draws: int = 4
    semantic_a: int | str = "healthy"
    semantic_b: int | str = "lesion"
    reduce: str = "abs_mean"
    base_seed: int = 0

    def __post_init__(self):
        # Normalised in place: frozen, so through object.__setattr__.
        object.__setattr__(self, "steps", [int(t) for t in self.steps])
        object.__setattr__(self, "semantic_a", semantic_id(self.semantic_a))
        object.__setattr__(self, "semantic_b", semantic_id(self.semantic_b))
        if self.reduce not in REDUCTIONS:
            raise ValueError(f"difference.reduce {self.reduce!r} is not one of {REDUCTIONS}")
        if self.draws < 1 or not self.steps or not all(0 <= t < 1000 for t in self.steps):
            raise ValueError(f"need draws ≥ 1 and steps in [0, 1000), got {self.draws}, {self.steps}")


@dataclass
class _Pending:
    """An image whose work items are queued: its map accumulates as their batches finish."""

    image_id: str
    diff: torch.Tensor  # (S, H, W) float32, sum over the draws done so far
    remaining: int
    example: dict | None = None  # x_t, eps_a, eps_b: per step (3, H, W), of draw 0


def iter_differences(
    unet,
    images: Iterable[tuple[str, np.ndarray]],
    settings: ExtractionSettings,
    batch_size: int = 0,
    example_ids: Iterable[str] = (),
) -> Iterator[tuple[str, np.ndarray, dict | None]]:
    """Yield `(id, D (S, H, W) float32, example or None)` per `(id, image (H, W, 3) uint8)`, in order.

    `batch_size` forward rows per batch, 0 picks one that fits the device (`default_batch_size`).
    Memory holds one batch and the few images it spans, whatever the number of images.
    """
    device = next(unet.parameters()).device
    rows = batch_size or default_batch_size(unet, device)
    per_forward = max(1, rows // 2)  # each item is two rows, one per semantic
    examples = set(example_ids)
    abar = build_scheduler().alphas_cumprod[settings.steps].float()
    signal, noise_scale = abar.sqrt(), (1 - abar).sqrt()
    queue: list[tuple[_Pending, int, int, torch.Tensor]] = []  # (image, step number s, draw k, x_t)
    pending: list[_Pending] = []
    for image_id, image in images:
        x0 = to_network_input(np.asarray(image)[None], torch.device("cpu"))[0]
        item = _Pending(
            image_id,
            torch.zeros((len(settings.steps), *x0.shape[1:])),
            remaining=len(settings.steps) * settings.draws,
            example={} if image_id in examples else None,
        )
        pending.append(item)
        for s, t in enumerate(settings.steps):
            for k in range(settings.draws):
                noise = step_noise(settings.base_seed, image_id, t, k, x0.shape)
                queue.append((item, s, k, signal[s] * x0 + noise_scale[s] * noise))
        while len(queue) >= per_forward:
            _run_batch(unet, queue[:per_forward], settings, device)
            del queue[:per_forward]
            yield from _finished(pending, settings)
    while queue:
        _run_batch(unet, queue[:per_forward], settings, device)
        del queue[:per_forward]
        yield from _finished(pending, settings)


def _finished(pending: list[_Pending], settings: ExtractionSettings):
    """Pop and yield the leading images whose items are all done."""
    while pending and pending[0].remaining == 0:
        done = pending.pop(0)
        example = None
        if done.example is not None:
            example = {name: torch.stack(done.example[name]).numpy() for name in ("x_t", "eps_a", "eps_b")}
        yield done.image_id, (done.diff / settings.draws).numpy(), example


def _run_batch(unet, batch, settings: ExtractionSettings, device: torch.device) -> None:
    """One forward pass over both semantics for the items of `batch`; accumulate into their images."""
    x_t = torch.stack([item[3] for item in batch]).to(device)
    t = torch.tensor([settings.steps[item[1]] for item in batch], device=device)
    labels = torch.tensor([settings.semantic_a, settings.semantic_b], device=device).repeat_interleave(
        len(batch)
    )
    eps_a, eps_b = predict_noise(unet, torch.cat([x_t, x_t]), torch.cat([t, t]), labels).float().chunk(2)
    # Reduced on the device: only (N, H, W) maps cross to the host, not the predictions.
    contribution = reduce_difference(eps_a, eps_b, settings.reduce).cpu()
    for j, (image, s, k, x) in enumerate(batch):
        image.diff[s] += contribution[j]
        image.remaining -= 1
        if image.example is not None and k == 0:
            for name, value in (("x_t", x), ("eps_a", eps_a[j].cpu()), ("eps_b", eps_b[j].cpu())):
                image.example.setdefault(name, [None] * len(settings.steps))[s] = value


def predict_noise(unet, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ε_θ(x_t, t, c) in inference mode; float16 autocast on CUDA."""
    autocast = (
        torch.autocast("cuda", dtype=torch.float16) if x_t.device.type == "cuda" else contextlib.nullcontext()
    )
    with torch.inference_mode(), autocast:
        return unet(x_t, t, class_labels=labels).sample


def reduce_difference(eps_a: torch.Tensor, eps_b: torch.Tensor, reduce: str) -> torch.Tensor:
    """One draw's contribution `(N, H, W)` to D_t from predictions `(N, 3, H, W)` (see the module doc)."""
    if reduce == "abs_mean":
        return (eps_a - eps_b).abs().mean(dim=1)
    if reduce == "luma_signed":
        return _luma(eps_a) - LUMA_LESION_WEIGHT * _luma(eps_b)
    raise ValueError(f"difference.reduce {reduce!r} is not one of {REDUCTIONS}")


def _luma(eps: torch.Tensor) -> torch.Tensor:
    gray = torch.einsum("nchw,c->nhw", eps, torch.tensor(LUMA, dtype=eps.dtype, device=eps.device))
    return gray - gray.amin(dim=(1, 2), keepdim=True)


def noise_differences(
    unet, images: np.ndarray, ids: Sequence[str], settings: ExtractionSettings, batch_size: int = 0
) -> np.ndarray:
    """D for every image of `images` `(n, H, W, 3) uint8`: `(n, S, H, W)` float32."""
    maps = [
        diff for _, diff, _ in iter_differences(unet, zip(ids, images, strict=True), settings, batch_size)
    ]
    height, width = np.asarray(images).shape[1:3]
    return np.stack(maps) if maps else np.zeros((0, len(settings.steps), height, width), np.float32)


def default_batch_size(unet, device: torch.device) -> int:
    """Forward rows per batch: a fixed CPU size, or what a quarter of the free GPU memory holds."""
    if device.type != "cuda":
        return CPU_BATCH
    free, _ = torch.cuda.mem_get_info(device)
    size = int(unet.config.sample_size)
    # Inference keeps a few activations of the widest level alive per row (float16, 2 bytes).
    per_row = size * size * int(unet.config.block_out_channels[0]) * 2 * 16
    return int(np.clip(free // 4 // per_row, 2, 2048))


def extract_shard(
    store,
    positions: Sequence[int],
    unet,
    out_path: str | os.PathLike,
    settings: ExtractionSettings,
    batch_size: int = 0,
    example_ids: Iterable[str] = (),
) -> None:
    """Write the maps of the store images at `positions` to `out_path` (layout: docs/architecture.md).

    `batch_size` forward rows per batch (0: what fits the device); the images of `example_ids` also
    keep their x_t and predicted noises of draw 0.
    """
    positions = np.asarray(positions, dtype=np.int64)
    ids = [store.ids[p] for p in positions]
    size = store.size
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("index", data=positions)
        h5.create_dataset("ids", data=np.asarray(ids, dtype=object), dtype=_STR)
        h5.create_dataset("steps", data=np.asarray(settings.steps, dtype=np.int64))
        shape = (len(ids), len(settings.steps), size, size)
        diff = h5.create_dataset(
            "diff", shape, np.float16, chunks=(1, *shape[1:]), maxshape=(None, *shape[1:]),
            compression="gzip", shuffle=True,
        )  # fmt: skip
        h5.attrs.update(
            semantic_a=settings.semantic_a,
            semantic_b=settings.semantic_b,
            reduce=settings.reduce,
            draws=settings.draws,
            seed=settings.base_seed,
        )
        lazy_images = ((image_id, store.image(p)) for image_id, p in zip(ids, positions, strict=True))
        maps = iter_differences(unet, lazy_images, settings, batch_size, example_ids)
        for j, (image_id, d, example) in enumerate(progress(maps, desc="extract", total=len(ids))):
            diff[j] = d.astype(np.float16)
            for name, value in (example or {}).items():
                h5.create_dataset(
                    f"examples/{image_id}/{name}", data=value.astype(np.float16), compression="gzip"
                )
    log.info("%s: %d images × %d steps × %d draws", out_path, len(ids), len(settings.steps), settings.draws)


def join_shards(shard_paths: Sequence[str | os.PathLike], out_path: str | os.PathLike) -> None:
    """One file whose `index`, `ids` and `diff` are virtual datasets over the shards, in order.

    Nothing is copied but `steps` and the attributes; shard paths are stored relative to `out_path`,
    so the results folder can move as a whole.
    """
    out_path = Path(out_path)
    infos = [_shard_info(path) for path in shard_paths]
    if not infos:
        raise ValueError("no shards to join")
    first = infos[0]
    for info in infos[1:]:
        if not np.array_equal(info["steps"], first["steps"]) or info["attrs"] != first["attrs"]:
            raise BadInputError(info["path"], "steps or settings differ from the first shard's")
    total = sum(info["n"] for info in infos)
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as h5:
        for name in _JOINED:
            dtype, tail = first["dtypes"][name], first["tails"][name]
            layout = h5py.VirtualLayout(shape=(total, *tail), dtype=dtype)
            start = 0
            for info in infos:
                relative = os.path.relpath(Path(info["path"]).resolve(), out_path.resolve().parent)
                layout[start : start + info["n"]] = h5py.VirtualSource(
                    relative, name, shape=(info["n"], *tail), dtype=dtype
                )
                start += info["n"]
            h5.create_virtual_dataset(name, layout)
        h5.create_dataset("steps", data=first["steps"])
        h5.attrs.update(first["attrs"])
    log.info("%s: %d images from %d shards", out_path, total, len(infos))


def _shard_info(path) -> dict:
    try:
        with h5py.File(path, "r") as h5:
            return {
                "path": str(path),
                "n": len(h5["index"]),
                "steps": h5["steps"][()],
                "attrs": {k: (v.item() if hasattr(v, "item") else v) for k, v in h5.attrs.items()},
                "dtypes": {name: h5[name].dtype for name in _JOINED},
                "tails": {name: h5[name].shape[1:] for name in _JOINED},
            }
    except (OSError, KeyError) as error:
        raise BadInputError(
            path, f"not a noise-difference shard ({error}); delete it to regenerate"
        ) from error
