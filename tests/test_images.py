"""Decoding of every kind of image a user's folder may hold, and the resizers.

The same kinds prepared into a store, and a 10 000 x 10 000 JPEG within bounded memory: tests/test_bad_input.py.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from image_files import jpeg_bytes, noise_rgb
from PIL import Image

from diffseg.data.images import (
    IMAGE_SUFFIXES,
    read_mask,
    read_rgb,
    read_rgb_with_size,
    resize_mask,
    resize_probability,
    resize_rgb,
    write_png,
)
from diffseg.runtime.errors import BadInputError


def test_rgb_png_round_trips_exactly(tmp_path):
    pixels = noise_rgb(17, 23)
    write_png(tmp_path / "a.png", pixels)
    assert np.array_equal(read_rgb(tmp_path / "a.png"), pixels)


def test_zero_byte_file_is_named_as_empty(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(BadInputError, match="empty") as info:
        read_rgb(path)
    assert info.value.path == str(path)


def test_text_file_named_jpg_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("lesion measurements: 4 mm\n")
    with pytest.raises(BadInputError, match="not an image"):
        read_rgb(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        read_rgb(tmp_path / "absent.png")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image_is_rejected_not_padded(tmp_path, fmt):
    buffer = io.BytesIO()
    Image.fromarray(noise_rgb(64, 64)).save(buffer, format=fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(BadInputError, match="truncated or corrupt"):
        read_rgb(path)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    grey = np.arange(0, 250, 10, dtype=np.uint8).reshape(5, 5)
    Image.fromarray(grey).save(tmp_path / "g.png")
    rgb = read_rgb(tmp_path / "g.png")
    assert rgb.shape == (5, 5, 3)
    for channel in range(3):
        assert np.array_equal(rgb[..., channel], grey)


def test_rgba_drops_alpha_and_keeps_the_stored_colour(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., :3] = (210, 160, 130)
    rgba[..., 3] = 0  # fully transparent: compositing on black or white would change the colour
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    assert (read_rgb(tmp_path / "t.png") == (210, 160, 130)).all()


def test_palette_image_with_transparency(tmp_path):
    img = Image.new("P", (3, 3), 1)
    img.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    img.save(tmp_path / "p.png", transparency=1)
    assert (read_rgb(tmp_path / "p.png") == (200, 100, 50)).all()


def test_sixteen_bit_png_scales_to_eight_bit(tmp_path):
    values = np.array([[0, 257, 1000], [32768, 65278, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    rgb = read_rgb(tmp_path / "deep.png")
    # Values above 255 are scaled by 255/65535 (not clipped to 255 or truncated to the low byte).
    assert rgb[..., 0].tolist() == [[0, 1, 4], [128, 254, 255]]


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "print.jpg"
    path.write_bytes(jpeg_bytes(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), quality=95))
    rgb = read_rgb(path).astype(int)
    assert rgb.shape == (16, 16, 3)
    assert (np.abs(rgb - (255, 0, 0)) <= 8).all()  # no magenta, no yellow: pure red


def test_one_bit_image(tmp_path):
    Image.fromarray(np.eye(4, dtype=bool)).save(tmp_path / "b.png")
    rgb = read_rgb(tmp_path / "b.png")
    assert np.array_equal(rgb[..., 1], np.eye(4, dtype=np.uint8) * 255)


def test_float_image_is_unsupported(tmp_path):
    Image.fromarray(np.ones((4, 4), dtype=np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(BadInputError, match="not supported"):
        read_rgb(tmp_path / "f.tiff")


def test_exif_orientation_6_turns_the_image_upright(tmp_path):
    stored = np.full((20, 40, 3), 255, dtype=np.uint8)  # stored 20 high, 40 wide
    stored[:8, :8] = (255, 0, 0)  # red in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "phone.jpg"
    path.write_bytes(jpeg_bytes(Image.fromarray(stored), exif=exif.tobytes(), quality=95))

    upright, full_hw = read_rgb_with_size(path)
    assert upright.shape == (40, 20, 3)
    assert full_hw == (40, 20)
    # Turning clockwise carries the top-left corner to the top-right.
    assert upright[2, -3, 1] < 60 and upright[2, -3, 0] > 200
    assert upright[2, 2].min() > 200
    assert np.abs(upright.astype(int) - np.rot90(stored, k=-1)).mean() < 3


def test_max_side_keeps_aspect_and_leaves_small_images_alone(tmp_path):
    path = tmp_path / "wide.png"
    write_png(path, noise_rgb(300, 1200))
    assert read_rgb(path, max_side=400).shape == (100, 400, 3)
    assert read_rgb(path, max_side=5000).shape == (300, 1200, 3)


def test_mask_thresholds_antialiased_edges_at_half(tmp_path):
    levels = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    Image.fromarray(levels).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").tolist() == [[False, False, True, True]]


def test_mask_saved_as_zero_one_is_not_read_as_empty(tmp_path):
    Image.fromarray(np.array([[0, 1], [1, 0]], dtype=np.uint8)).save(tmp_path / "m01.png")
    assert read_mask(tmp_path / "m01.png").tolist() == [[False, True], [True, False]]


def test_colour_and_sixteen_bit_masks(tmp_path):
    red = np.zeros((2, 2, 3), dtype=np.uint8)
    red[0, 0] = (255, 0, 0)
    write_png(tmp_path / "red.png", red)
    assert read_mask(tmp_path / "red.png").tolist() == [[True, False], [False, False]]
    deep = np.array([[0, 65535], [30000, 40000]], dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    assert read_mask(tmp_path / "deep.png").tolist() == [[False, True], [False, True]]


def test_mask_of_another_size_names_both_sizes(tmp_path):
    write_png(tmp_path / "m.png", np.zeros((30, 40), dtype=bool))
    assert read_mask(tmp_path / "m.png", expected_hw=(30, 40)).shape == (30, 40)
    with pytest.raises(BadInputError, match=r"mask is 30x40 \(HxW\) but its image is 300x400"):
        read_mask(tmp_path / "m.png", expected_hw=(300, 400))


def test_bool_mask_is_written_as_0_255(tmp_path):
    write_png(tmp_path / "m.png", np.array([[True, False]]))
    assert np.asarray(Image.open(tmp_path / "m.png")).tolist() == [[255, 0]]


def test_write_png_rejects_other_dtypes(tmp_path):
    with pytest.raises(TypeError):
        write_png(tmp_path / "x.png", np.zeros((2, 2), dtype=np.float32))
    assert list(tmp_path.iterdir()) == []


def test_resize_rgb_averages_instead_of_sampling():
    checker = np.indices((256, 256)).sum(axis=0) % 2 * 255  # one-pixel black/white checkerboard
    small = resize_rgb(np.repeat(checker[..., None], 3, axis=2).astype(np.uint8), 64)
    assert small.shape == (64, 64, 3) and small.dtype == np.uint8
    assert np.abs(small.astype(int) - 128).max() <= 2  # point sampling would give 0 or 255


def test_resize_rgb_enlarges():
    assert resize_rgb(noise_rgb(8, 12), 64).shape == (64, 64, 3)


def test_resize_mask_keeps_a_half_pixel_wide_stripe_wherever_it_lies():
    for offset in range(0, 8, 4):  # a 4-px stripe at 8x reduction, in both halves of a block
        mask = np.zeros((512, 512), dtype=bool)
        mask[:, 256 + offset : 256 + offset + 4] = True
        small = resize_mask(mask, 64)
        assert small.dtype == bool
        assert small[:, 32].all() and small.sum() == 64  # exactly one output column, full height


def test_resize_mask_preserves_area_fraction():
    yy, xx = np.mgrid[:341, :512]
    blob = (yy - 150) ** 2 / 60**2 + (xx - 300) ** 2 / 110**2 <= 1
    assert abs(resize_mask(blob, 64).mean() - blob.mean()) < 0.01


def test_resize_probability_is_bilinear_and_stays_in_range():
    ramp = np.linspace(0.0, 1.0, 8, dtype=np.float64)[None, :].repeat(4, axis=0)
    big = resize_probability(ramp, (40, 80))
    assert big.shape == (40, 80) and big.dtype == np.float32
    assert big.min() >= 0.0 and big.max() <= 1.0
    assert np.all(np.diff(big[0]) >= 0)  # monotone along the ramp: no ringing
    assert np.allclose(big, big[0])  # constant along the other axis
    assert np.allclose(big[:, 40], 0.5, atol=0.08)


def test_image_suffixes_are_lower_case_with_dot():
    assert all(s.startswith(".") and s == s.lower() for s in IMAGE_SUFFIXES)
    assert {".jpg", ".png", ".tif"} <= set(IMAGE_SUFFIXES)
