"""DDPM training and noise-difference extraction throughput, on the GPU and the CPU side by side.

For each case (preset, image side, training batch) and each device present (CUDA when visible, and
the CPU with all its threads), measures in one run:
  - training: steps per second of `train_ddpm` (bf16 autocast on CUDA, as the pipeline trains),
    from two fresh runs of K0 and K1 steps, so the fixed costs (data upload, checkpoint, save)
    cancel: rate = (K1 − K0) / (t1 − t0);
  - extraction: images·steps per second of the bare batched forward (1 draw, 2 semantics, no I/O)
    and of the pipeline's `extract_shard` (store reads, noise, forward, HDF5 writes);
and the FLOP rate these imply (GFLOP per forward from `network_cost.forward_cost`; training counts
3 forwards per image, the usual estimate for forward plus backward). Prints a Markdown table and
the GPU/CPU ratios, and writes the rows as JSON to --out. docs/scaling.md's measured GPU section is
this script's output on one H200.

    PYTHONPATH=src python benchmarks/device_throughput.py --out throughput.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from extraction_speed import bare_forward_rate, make_store, pipeline_rate
from network_cost import forward_cost

from diffseg.method.extraction import default_batch_size
from diffseg.method.model import build_unet
from diffseg.method.training import NetworkSpec, TrainingPaths, TrainSettings, train_ddpm
from diffseg.runtime.device import device_name, synchronise

# (preset, side, training batch, (K0, K1) training steps on CUDA, on the CPU or None to skip there)
CASES = [
    ("tiny", 64, 16, (50, 550), (5, 25)),
    ("paper", 64, 16, (20, 220), (2, 6)),
    ("paper", 128, 32, (10, 110), None),
]


def training_rate(preset: str, size: int, batch: int, steps: tuple[int, int], device, tmp: Path) -> float:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, size, size, 3), dtype=np.uint8)
    labels = np.repeat([1, 0], 32)
    seconds = []
    for k in steps:
        work = tmp / f"train_{preset}_{size}_{device.type}_{k}"
        settings = TrainSettings(steps=k, batch_size=batch, checkpoint_every=10**9)
        paths = TrainingPaths(work, work / "ema", work / "loss.csv")
        network = NetworkSpec(preset, size, device)
        synchronise(device)
        start = time.perf_counter()
        train_ddpm(images, labels, paths, settings, network)
        synchronise(device)
        seconds.append(time.perf_counter() - start)
    return (steps[1] - steps[0]) / (seconds[1] - seconds[0])


def extraction_rates(preset: str, size: int, device, tmp: Path, n_images: int) -> tuple[float, float, int]:
    torch.manual_seed(0)
    unet = build_unet(preset, size).to(device).eval()
    store = make_store(tmp / f"store_{preset}_{size}_{device.type}", n_images, size)
    pipeline_rate(unet, store, 2, tmp / "warm-up.h5")
    piped = pipeline_rate(unet, store, n_images, tmp / f"extract_{preset}_{size}_{device.type}.h5")
    bare = bare_forward_rate(unet, n_images, size, device)
    return piped, bare, default_batch_size(unet, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="write the rows here as JSON")
    parser.add_argument("--images", type=int, default=64, help="images of each extraction timing (CUDA)")
    parser.add_argument("--cpu-images", type=int, default=4, help="images of each extraction timing (CPU)")
    args = parser.parse_args()
    devices = [torch.device("cuda")] if torch.cuda.is_available() else []
    devices.append(torch.device("cpu"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset, size, batch, cuda_steps, cpu_steps in CASES:
            _, gflop = forward_cost(preset, size)
            for device in devices:
                steps = cuda_steps if device.type == "cuda" else cpu_steps
                if steps is None:
                    continue
                n_images = args.images if device.type == "cuda" else args.cpu_images
                train = training_rate(preset, size, batch, steps, device, Path(tmp))
                piped, bare, rows_per_batch = extraction_rates(preset, size, device, Path(tmp), n_images)
                row = {
                    "preset": preset,
                    "size": size,
                    "device": device_name(device),
                    "gflop_per_forward": round(gflop, 4),
                    "train_batch": batch,
                    "train_steps_per_s": round(train, 2),
                    "train_tflops": round(3 * gflop * batch * train / 1e3, 3),
                    "extraction_batch_rows": rows_per_batch,
                    "extract_pipeline_images_steps_per_s": round(piped, 1),
                    "extract_bare_images_steps_per_s": round(bare, 1),
                    "extract_tflops": round(2 * gflop * bare / 1e3, 3),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.out:
                    args.out.write_text(json.dumps(rows, indent=1))
    print("\n".join(table_lines(rows)))


def table_lines(rows: list[dict]) -> list[str]:
    """The Markdown table of `rows` and one line of GPU/CPU ratios per case measured on both."""
    lines = [
        "| preset | side | device | training steps/s (batch) | training TFLOP/s | extraction images·steps/s, pipeline / bare forward | extraction TFLOP/s |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['size']} | {r['device']} | {r['train_steps_per_s']} ({r['train_batch']}) | "
            f"{r['train_tflops']} | {r['extract_pipeline_images_steps_per_s']} / {r['extract_bare_images_steps_per_s']} | "
            f"{r['extract_tflops']} |"
        )
    by_case: dict[tuple, dict] = {}
    for r in rows:
        by_case.setdefault((r["preset"], r["size"]), {})["cpu" if r["device"].startswith("cpu") else "gpu"] = r
    lines.append("")
    for (preset, size), pair in by_case.items():
        if len(pair) == 2:
            gpu, cpu = pair["gpu"], pair["cpu"]
            lines.append(
                f"- {preset}, {size} px, GPU / CPU: training {gpu['train_steps_per_s'] / cpu['train_steps_per_s']:.1f}×, "
                f"extraction {gpu['extract_pipeline_images_steps_per_s'] / cpu['extract_pipeline_images_steps_per_s']:.1f}×"
            )
    return lines


if __name__ == "__main__":
    main()
