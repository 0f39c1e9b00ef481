"""The training-free Otsu baseline on drawn scenes and on the real ISIC 2017 sample."""

from __future__ import annotations

import numpy as np
import pytest

from diffseg.data.images import read_mask, read_rgb
from diffseg.evaluation.metrics import segmentation_scores
from diffseg.evaluation.otsu_baseline import OtsuParams, darkness_map, otsu_segment
from diffseg.method.components import keep_one_component
from diffseg.runtime.errors import ConfigError


def disc(shape, centre, radius) -> np.ndarray:
    rows, cols = np.indices(shape)
    return np.hypot(rows - centre[0], cols - centre[1]) <= radius


def scope_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Light noisy skin, a dark lesion with a light hole at the centre, and a large dark corner."""
    rng = np.random.default_rng(seed)
    shape = (96, 96)
    lesion = disc(shape, (48, 50), 16)
    image = np.full((*shape, 3), (220, 180, 160), np.float64) + rng.normal(0, 6, (*shape, 3))
    image[lesion] = (110, 70, 50)
    image[disc(shape, (48, 50), 4)] = (200, 170, 150)  # a regression area: lighter, still lesion
    corner = disc(shape, (95, 95), 40) & ~disc(shape, (48, 50), 30)
    image[corner] = (30, 25, 25)  # the scope's dark rim, bigger than the lesion
    return np.clip(image, 0, 255).astype(np.uint8), lesion


def test_finds_the_central_lesion_with_its_hole_filled_and_ignores_the_dark_rim():
    image, lesion = scope_scene()
    mask = otsu_segment(image, OtsuParams(smooth_sigma=0.01))
    assert segmentation_scores(mask, lesion)["dice"] > 0.95
    assert mask[48, 50]  # the lighter centre is filled


def test_hole_filling_and_component_choice_are_what_the_params_say():
    image, lesion = scope_scene()
    unfilled = otsu_segment(image, OtsuParams(smooth_sigma=0.0, fill_holes=False))
    assert not unfilled[48, 50]
    largest = otsu_segment(image, OtsuParams(smooth_sigma=0.01, component="largest"))
    assert largest[90, 90] and not largest[lesion].any()


def test_component_nearest_the_centre_wins_over_a_larger_one_and_ties_go_to_size():
    mask = np.zeros((20, 20), bool)
    mask[8:11, 8:11] = True  # small, at the centre
    mask[0:6, 0:20] = True  # large, at the top
    assert keep_one_component(mask, "centre").sum() == 9
    assert keep_one_component(mask, "largest").sum() == 120
    ring_and_dot = disc((21, 21), (10, 10), 9) & ~disc((21, 21), (10, 10), 6)
    ring_and_dot[10, 10] = True  # the dot covers the centre, the ring does not
    assert keep_one_component(ring_and_dot, "centre").sum() == 1
    assert not keep_one_component(np.zeros((5, 5), bool), "centre").any()


def test_smoothing_scales_with_the_image_side():
    image = np.full((40, 40, 3), 200, np.uint8)
    image[20, 20] = 0
    darkness = darkness_map(image, 0.05)  # sigma = 2 px
    assert darkness[20, 20] == pytest.approx(1 - 200 / 255 + (200 / 255) / (2 * np.pi * 4), abs=1e-3)
    assert darkness_map(image, 0.0)[20, 20] == pytest.approx(1.0)


def test_uniform_image_gives_an_empty_mask_and_bad_params_are_refused():
    assert not otsu_segment(np.full((8, 8, 3), 128, np.uint8), OtsuParams()).any()
    with pytest.raises(ConfigError, match="component"):
        OtsuParams(component="middle")
    with pytest.raises(ConfigError, match="smooth_sigma"):
        OtsuParams(smooth_sigma=-1)
    with pytest.raises(ConfigError, match="channels"):
        OtsuParams(channels="cyan")


def test_channel_mix_decides_what_counts_as_dark():
    # A blue-poor (yellowish) patch on grey: dark in the blue channel only, bright in luminance.
    image = np.full((32, 32, 3), 128, np.uint8)
    image[10:20, 10:20] = (230, 230, 10)
    blue = otsu_segment(image, OtsuParams(smooth_sigma=0.0, channels="blue"))
    luminance = otsu_segment(image, OtsuParams(smooth_sigma=0.0, channels="luminance", fill_holes=False))
    assert blue[10:20, 10:20].all() and blue.sum() == 100
    assert not luminance[10:20, 10:20].any() and luminance[0, 0]  # the grey skin is the darker side
    mean = darkness_map(image, 0.0, "mean")
    assert mean[0, 0] == pytest.approx(1 - 128 / 255) and mean[15, 15] == pytest.approx(1 - 470 / 765)


def test_reaches_its_known_dice_on_the_real_isic_sample(isic_sample):
    """Mean Dice on the 98 images at their stored size was 0.733 when this baseline was written."""
    dice = []
    for path in sorted((isic_sample / "images").glob("ISIC_*.jpg")):
        truth = read_mask(isic_sample / "masks" / f"{path.stem}_segmentation.png")
        dice.append(segmentation_scores(otsu_segment(read_rgb(path), OtsuParams()), truth)["dice"])
    assert len(dice) == 98
    assert np.mean(dice) == pytest.approx(0.733, abs=0.01)
