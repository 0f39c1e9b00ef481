"""Noise-difference extraction speed and memory, measured side by side in one run.

Prints images·steps per second of
  (a) the pipeline's batched extraction (`extract_shard`: store reads, noise, forward, HDF5 writes),
  (b) a naive loop: one image, one step, one semantic per forward call,
  (c) the bare batched UNet forward pass over the same number of rows, with no I/O,
and the ratios a/b (target ≥ 5) and a/c (target ≥ 0.8); then the peak memory of extracting
200 and 2 000 images (each in a fresh process), which must not grow with the cohort.

    PYTHONPATH=src python benchmarks/extraction_speed.py [--model results/synthetic/model/ema]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from diffseg.data.store import ImageStore, write_store
from diffseg.data.synthetic import write_synthetic_cohort
from diffseg.method.extraction import (
    ExtractionSettings,
    default_batch_size,
    extract_shard,
    predict_noise,
    step_noise,
)
from diffseg.method.model import build_scheduler, build_unet, load_model
from diffseg.runtime.device import pick_device, synchronise
from diffseg.runtime.tensors import to_network_input

STEPS = [60, 70, 80, 90, 100, 110, 120, 130, 140, 150]


def make_store(folder: Path, n_images: int, size: int) -> Path:
    cohort = write_synthetic_cohort(folder / "cohort", n_lesion=n_images, n_healthy=2, size=size, seed=0)
    write_store(folder / "store.h5", cohort, size, "synthetic")
    return folder / "store.h5"


def pipeline_rate(unet, store_path: Path, n_images: int, out: Path) -> float:
    with ImageStore(store_path) as store:
        positions = np.flatnonzero(store.label == 1)[:n_images]
        start = time.perf_counter()
        extract_shard(store, positions, unet, out, ExtractionSettings(STEPS, 1, "healthy", "lesion", "abs_mean", 0))
        synchronise(next(unet.parameters()).device)
    return n_images * len(STEPS) / (time.perf_counter() - start)


def naive_rate(unet, store_path: Path, n_images: int, device) -> float:
    """One forward per image, step and semantic, with the same noise and arithmetic as the pipeline."""
    abar = build_scheduler().alphas_cumprod
    with ImageStore(store_path) as store:
        positions = np.flatnonzero(store.label == 1)[:n_images]
        start = time.perf_counter()
        for p in positions:
            x0 = to_network_input(store.image(p)[None], torch.device("cpu"))[0]
            for t in STEPS:
                x_t = abar[t].sqrt() * x0 + (1 - abar[t]).sqrt() * step_noise(0, store.ids[p], t, 0, x0.shape)
                x_t, step = x_t[None].to(device), torch.tensor([t], device=device)
                eps = [predict_noise(unet, x_t, step, torch.tensor([c], device=device)) for c in (0, 1)]
                (eps[0] - eps[1]).abs().mean(dim=1).cpu()
        synchronise(device)
    return n_images * len(STEPS) / (time.perf_counter() - start)


def bare_forward_rate(unet, n_images: int, size: int, device) -> float:
    rows = default_batch_size(unet, device)
    total = n_images * len(STEPS) * 2
    x = torch.randn(rows, 3, size, size, device=device)
    t = torch.full((rows,), 100, device=device)
    c = torch.arange(rows, device=device) % 2
    predict_noise(unet, x[:2], t[:2], c[:2])  # warm-up
    synchronise(device)
    start = time.perf_counter()
    for done in range(0, total, rows):
        n = min(rows, total - done)
        predict_noise(unet, x[:n], t[:n], c[:n])
    synchronise(device)
    return n_images * len(STEPS) / (time.perf_counter() - start)


def peak_memory(store_path: Path, n_images: int, model: str | None, size: int, out: Path) -> dict:
    """Run one extraction of `n_images` in a fresh process; its peak host (and GPU) memory growth in MiB."""
    command = [sys.executable, __file__, "--child", str(store_path), str(n_images), str(size), str(out)]
    if model:
        command += ["--model", model]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def child(store_path: str, n_images: int, size: int, out: str, model: str | None) -> None:
    device = pick_device()
    unet = _model(model, size, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with ImageStore(store_path) as store:
        positions = np.flatnonzero(store.label == 1)[:n_images]
        extract_shard(store, positions, unet, out, ExtractionSettings([100], 1, "healthy", "lesion", "abs_mean", 0))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = {"host_peak_mib": round(after), "growth_over_loaded_model_mib": round(after - before)}
    if device.type == "cuda":
        peak["gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(peak))


def _model(model: str | None, size: int, device):
    if model:
        return load_model(model, device)
    torch.manual_seed(0)
    return build_unet("tiny", size).to(device).eval()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="a saved model folder (default: an untrained tiny UNet)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--images", type=int, default=16, help="images of the speed comparison")
    parser.add_argument("--memory-size", type=int, default=32, help="image side of the memory runs")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        store_path, n_images, size, out = args.child
        child(store_path, int(n_images), int(size), out, args.model)
        return
    device = pick_device()
    unet = _model(args.model, args.size, device)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = make_store(tmp / "speed", args.images, args.size)
        pipeline_rate(unet, store, 1, tmp / "warm-up.h5")  # the bare forward is timed warm too
        a = pipeline_rate(unet, store, args.images, tmp / "a.h5")
        b = naive_rate(unet, store, args.images, device)
        c = bare_forward_rate(unet, args.images, args.size, device)
        print(
            f"device {device}, {args.images} images × {len(STEPS)} steps × 1 draw × 2 semantics, {args.size} px"
        )
        print(f"(a) batched extraction  {a:9.1f} images·steps/s")
        print(f"(b) naive loop          {b:9.1f} images·steps/s")
        print(f"(c) bare batched UNet   {c:9.1f} images·steps/s")
        print(f"a/b = {a / b:.2f} (target ≥ 5)   a/c = {a / c:.2f} (target ≥ 0.8)")
        memory_size = args.size if args.model else args.memory_size  # a saved model fixes the size
        memory_store = make_store(tmp / "memory", 2000, memory_size)
        for n in (200, 2000):
            peak = peak_memory(memory_store, n, args.model, memory_size, tmp / f"m{n}.h5")
            print(f"peak memory growth extracting {n:5d} images at {memory_size} px: {peak}")


if __name__ == "__main__":
    main()
