"""Cost of one forward of the noise-prediction network, per preset and input size.

Prints the table of docs/scaling.md ("Network cost"): parameters and GFLOP of one forward of one
image, counted by torch's `FlopCounterMode` (2 FLOP per multiply-add of the convolutions and matrix
products; normalisations and activations are not counted, a few per cent). The extrapolations of
docs/scaling.md multiply these by forwards per image and divide by a device's FLOP rate.

    PYTHONPATH=src python benchmarks/network_cost.py
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from diffseg.method.model import build_unet

# (preset, input size): the CPU demo at the miniature's and the default's sizes, the paper's preset at 128 px.
CASES = [("tiny", 32), ("tiny", 64), ("paper", 128)]


def forward_cost(preset: str, size: int) -> tuple[int, float]:
    """(parameters, GFLOP) of one forward of one `size`² image with a class label."""
    unet = build_unet(preset, size).eval()
    x = torch.zeros(1, 3, size, size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        unet(x, torch.tensor([100]), class_labels=torch.tensor([1]))
    return sum(p.numel() for p in unet.parameters()), counter.get_total_flops() / 1e9


def main() -> None:
    print("| preset | input | parameters | GFLOP per forward |")
    print("|---|---:|---:|---:|")
    for preset, size in CASES:
        parameters, gflop = forward_cost(preset, size)
        print(f"| {preset} | {size} px | {parameters / 1e6:.2f} M | {gflop:.4g} |")


if __name__ == "__main__":
    main()
