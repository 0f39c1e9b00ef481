"""Image content the tests generate: random pixels and in-memory JPEG files."""

import io

import numpy as np
from PIL import Image


def noise_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Random uint8 RGB pixels `(h, w, 3)`, the same for the same seed."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def jpeg_bytes(img: Image.Image, **kwargs) -> bytes:
    """`img` encoded as a JPEG file (Pillow's save options in `kwargs`)."""
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", **kwargs)
    return buffer.getvalue()
