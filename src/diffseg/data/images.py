"""Decoding and resizing of dermoscopy images and lesion masks.

Every reader turns whatever a user's folder holds (any Pillow mode, EXIF-rotated phone photos,
16-bit scans, 100-megapixel JPEGs) into the two in-memory forms of the pipeline: `uint8` RGB
`(H, W, 3)` images and `bool` `(H, W)` masks. A file that cannot be used raises
`BadInputError` naming it, so a user can fix their data instead of reading a traceback.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from diffseg.runtime.atomic import atomic_path
from diffseg.runtime.errors import BadInputError

# Formats Pillow registers an opener for but only identifies: their pixels need an outside handler.
_IDENTIFY_ONLY_FORMATS = {"MPEG"}


def _decodable_suffixes() -> tuple[str, ...]:
    """The file extensions of every format this Pillow decodes (WebP, JPEG 2000, PSD, … as well as
    JPEG, PNG and TIFF): those of its openers, less its stubs and identify-only formats."""
    Image.init()  # loads every plugin, so that all formats are registered
    openers = {name: factory for name, (factory, _accept) in Image.OPEN.items()}

    def decodable(name: str) -> bool:
        factory = openers.get(name)
        stub = isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile)
        return factory is not None and not stub and name not in _IDENTIFY_ONLY_FORMATS

    return tuple(sorted(suffix for suffix, name in Image.registered_extensions().items() if decodable(name)))


IMAGE_SUFFIXES = _decodable_suffixes()
# Image formats Pillow cannot decode that a folder of photos may hold: such files count as images,
# so they are reported by name and format instead of being left out unseen.
UNDECODABLE_IMAGE_FORMATS = {".heic": "HEIC", ".heif": "HEIF", ".jxl": "JPEG XL", ".svg": "SVG"}
# For messages: the usual dermoscopy formats stand for the whole list.
IMAGE_FORMATS_TEXT = ".jpg, .png, .tif, .bmp, .webp or any other format Pillow reads"


def is_image_file(path: str | os.PathLike) -> bool:
    """Whether a folder entry counts as an image: a visible file whose extension (any letter case)
    is that of an image format, whether or not Pillow decodes it."""
    path = Path(path)
    suffix = path.suffix.lower()
    image_suffix = suffix in IMAGE_SUFFIXES or suffix in UNDECODABLE_IMAGE_FORMATS
    return image_suffix and path.is_file() and not path.name.startswith(".")


# Pillow refuses images over 2x this as "decompression bombs" and warns above it; its default
# (~89 MP) is smaller than some whole-slide dermoscopy exports. One gigapixel still stops a
# malicious file before it can allocate tens of gigabytes.
MAX_IMAGE_PIXELS = 1_000_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

# EXIF orientations that swap width and height (transpose, 90 degrees, transverse, 270 degrees).
_EXIF_ORIENTATION = 0x0112
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}

_SIXTEEN_BIT_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


def read_rgb(path: str | os.PathLike, max_side: int | None = None) -> np.ndarray:
    """Read an image as `uint8` RGB `(H, W, 3)`, upright per its EXIF orientation.

    With `max_side`, images whose longest side exceeds it are shrunk (aspect kept) to that side;
    JPEGs are then decoded at a reduced DCT scale, so a 100 MP file never exists at full size.
    Alpha is dropped rather than composited: a transparent pixel keeps the skin colour it stores.
    """
    return read_rgb_with_size(path, max_side)[0]


def read_rgb_with_size(
    path: str | os.PathLike, max_side: int | None = None
) -> tuple[np.ndarray, tuple[int, int]]:
    """`read_rgb`, plus the image's upright full-resolution `(H, W)` before any shrinking.

    The full size is what the image's mask must match and what results are mapped back to.
    """
    with _open(path) as img:
        full_size = img.size
        if max_side is not None and img.format == "JPEG":
            img.draft(None, _draft_request(img.size, max_side))
        _decode(img, path)
        full_hw = _upright_hw(img, full_size)
        _turn_upright(img, path)
        rgb = _to_rgb(img, path)
        if max_side is not None and max(rgb.size) > max_side:
            rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
        return np.array(rgb, dtype=np.uint8), full_hw


def read_mask(path: str | os.PathLike, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Read a lesion mask as `bool` `(H, W)`: a pixel is lesion when its value is at least 128.

    The threshold accepts antialiased masks. Masks saved as 0/1 instead of 0/255 (a frequent export
    of analysis tools) are recognised by their maximum of 1 and read as such: read as 0/255 they
    would silently become empty. Colour masks count a pixel as lesion when any colour channel
    reaches the threshold (a red mask on black is as common as white on black); alpha is ignored.
    `expected_hw` is the upright size of the mask's image; a mask of any other size is an error
    because resizing it would silently misplace the ground truth.
    """
    with _open(path) as img:
        _decode(img, path)
        _turn_upright(img, path)
        levels = _mask_levels(img, path)
    mask = levels >= (1 if levels.max(initial=0) == 1 else 128)
    if expected_hw is not None and mask.shape != tuple(expected_hw):
        h, w = mask.shape
        raise BadInputError(
            path, f"mask is {h}x{w} (HxW) but its image is {expected_hw[0]}x{expected_hw[1]}"
        )
    return mask


def resize_rgb(img: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB image to `(size, size, 3)` `uint8`, aspect not kept (as for ISIC models).

    Lanczos when shrinking: Pillow widens its kernel by the scale factor, so it averages over the
    whole source area and skin texture does not alias; bicubic when enlarging.
    """
    h, w = img.shape[:2]
    shrinking = size < h or size < w
    resample = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC
    return np.array(Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8)).resize((size, size), resample))


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Resize a mask to `(size, size)` `bool`: a pixel is lesion when lesion covers half its area.

    Unlike nearest-neighbour sampling, which keeps or drops a thin structure depending on where
    the sampling grid happens to fall, area coverage keeps any lesion part at least half an output
    pixel wide wherever it lies and preserves the lesion's area fraction. Structures narrower than
    half an output pixel cannot cover half a pixel and vanish by design.
    """
    coverage = Image.fromarray(np.asarray(mask, dtype=np.float32))
    return np.asarray(coverage.resize((size, size), Image.Resampling.BOX)) >= 0.5


def resize_probability(prob: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Resize a soft `(h, w)` map (e.g. lesion probability) to `out_hw` bilinearly, as `float32`.

    Bilinear interpolation only mixes neighbouring values, so a probability map stays in the range
    of its input (no overshoot as with bicubic) and a later threshold sees smooth borders.
    """
    soft = Image.fromarray(np.asarray(prob, dtype=np.float32))
    out_h, out_w = out_hw
    return np.asarray(soft.resize((out_w, out_h), Image.Resampling.BILINEAR), dtype=np.float32)



def label_at_original_size(soft_map: np.ndarray, original_hw: tuple[int, int]) -> np.ndarray:
    """A model-resolution map `(h, w)` upsampled to `original_hw` and labelled lesion where ≥ 0.5."""
    soft_map = np.asarray(soft_map, dtype=np.float32)
    if soft_map.shape == tuple(original_hw):
        return soft_map >= 0.5
    return resize_probability(soft_map, tuple(original_hw)) >= 0.5

def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a `uint8` image (`(H, W)` or `(H, W, 3)`) or a `bool` mask (as 0/255) as PNG, atomically."""
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        raise TypeError(f"write_png takes uint8 or bool arrays, got {array.dtype}")
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def _open(path: str | os.PathLike) -> Image.Image:
    """Open an image lazily (header only), turning every failure into a `BadInputError`."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise BadInputError(path, "file is empty (0 bytes)")
    try:
        return Image.open(path)
    except UnidentifiedImageError:
        undecodable = UNDECODABLE_IMAGE_FORMATS.get(path.suffix.lower())
        if undecodable:
            raise BadInputError(path, f"{undecodable} image: a format Pillow cannot decode; convert it to PNG or JPEG") from None
        raise BadInputError(path, "not an image in a format Pillow can read (is it really an image?)") from None
    except Image.DecompressionBombError as exc:
        raise BadInputError(path, f"image too large to decode: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadInputError(path, f"unreadable image header: {exc}") from None


def _decode(img: Image.Image, path: str | os.PathLike) -> None:
    """Decode all pixel data now, so truncation and corruption surface here and not mid-pipeline."""
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadInputError(path, f"truncated or corrupt image data: {exc}") from None


def _upright_hw(img: Image.Image, stored_size: tuple[int, int]) -> tuple[int, int]:
    """`(H, W)` of the stored size once turned upright (only after decoding: PNG keeps EXIF at the end)."""
    w, h = stored_size
    if img.getexif().get(_EXIF_ORIENTATION) in _SWAPPING_ORIENTATIONS:
        w, h = h, w
    return h, w


def _turn_upright(img: Image.Image, path: str | os.PathLike) -> None:
    """Apply the EXIF orientation in place: a copy would double the memory of a large image."""
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except (OSError, SyntaxError, ValueError, TypeError, KeyError) as exc:
        raise BadInputError(path, f"unreadable EXIF orientation: {exc}") from None


def _draft_request(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    # draft() picks the largest DCT scale keeping both sides at least the requested size; asking
    # for the aspect-scaled size (not max_side x max_side) keeps the longest side >= max_side.
    scale = max_side / max(size)
    return max(1, math.ceil(size[0] * scale)), max(1, math.ceil(size[1] * scale))


def _to_rgb(img: Image.Image, path: str | os.PathLike) -> Image.Image:
    """Any supported mode as an 8-bit RGB image."""
    if img.mode == "RGB":
        return img
    if img.mode in _SIXTEEN_BIT_MODES:
        return Image.fromarray(_sixteen_to_eight(img)).convert("RGB")
    if img.mode == "F":
        raise BadInputError(path, "32-bit floating-point images are not supported; export as 8- or 16-bit")
    if img.mode in ("P", "PA"):
        # Palette transparency must be expanded through RGBA; converting straight to RGB warns.
        img = img.convert("RGBA")
    if img.mode == "RGBa":
        img = img.convert("RGBA")
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise BadInputError(path, f"unsupported image mode {img.mode!r}: {exc}") from None


def _mask_levels(img: Image.Image, path: str | os.PathLike) -> np.ndarray:
    """A mask's grey level per pixel (brightest colour channel for colour masks).

    Sixteen-bit masks are scaled to 0..255 unless they hold only 0/1, which are kept as they are.
    """
    if img.mode in _SIXTEEN_BIT_MODES:
        raw = np.asarray(img)
        return raw.astype(np.uint8) if raw.max(initial=0) <= 1 else _sixteen_to_eight(img)
    if img.mode in ("L", "1"):
        return np.asarray(img.convert("L"))
    return np.asarray(_to_rgb(img, path)).max(axis=2)


def _sixteen_to_eight(img: Image.Image) -> np.ndarray:
    # 65535 / 257 == 255 exactly, so full scale maps to full scale and rounding is symmetric.
    values = np.clip(np.asarray(img).astype(np.float64), 0, 65535)
    return np.rint(values / 257.0).astype(np.uint8)
