"""The embedded default dataset: synthetic dermoscopy crops with exact lesion masks.

Each case imitates what a dermatoscope sees: skin of a varied tone with low-frequency texture and
redness, the illumination falloff (vignetting) of the scope and sometimes the dark rim of its
circular field of view, a few dark hairs, and for lesion cases one pigmented lesion: an ellipse
with an irregular border (a radial Fourier perturbation), brown to black or blue-grey, lighter at
the rim, with patches, globules and sometimes a pigment network. The mask is the lesion's own
alpha at 0.5, so hairs and vignetting drawn over the lesion never change it.

Lesion area is drawn log-uniformly from 5 % to 40 % of the image; a large lesion near the frame is
cut by it, so the mask covers between about 4.5 % and 40 % of the image.

A case is a function of `(seed, kind, number)` only (`np.random.default_rng([seed, label, k])`),
so adding cases never changes existing ones. Skin, lesion, hairs and optics draw from separate
random streams, so the healthy twin of a lesion case (same generator, `lesion=False`) shows the
same skin, hairs and light without the lesion.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage
from scipy.spatial import cKDTree

from diffseg.data.cohort import assign_splits
from diffseg.runtime.atomic import atomic_dir

LESION_AREA_RANGE = (0.05, 0.40)

# Skin under a dermatoscope (polarised light shows the blood, so tones lean pink), light to dark.
_SKIN_TONES = np.array(
    [
        [0.93, 0.77, 0.72],
        [0.89, 0.69, 0.62],
        [0.85, 0.64, 0.55],
        [0.80, 0.60, 0.52],
        [0.72, 0.52, 0.42],
        [0.60, 0.43, 0.34],
    ]
)
_HAIR_COLOUR = np.array([0.16, 0.11, 0.09])
_ID_DIGITS = 6
_BORDER_SAMPLES = 2048  # linear interpolation between samples errs by far less than a pixel


def synthesise_case(
    rng: np.random.Generator, size: int = 128, lesion: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic dermoscopy image `(size, size, 3) uint8` and its lesion mask `(size, size) bool`.

    With `lesion=False` the image is healthy skin (same background, hairs and optics) and the mask
    is empty.
    """
    scale = size / 64  # every length below is given for a 64-pixel image
    skin_rng, lesion_rng, hair_rng, optics_rng = rng.spawn(4)
    skin = _skin(skin_rng, size, scale, _skin_tone(skin_rng))
    if lesion:
        alpha, radial = _lesion_shape(lesion_rng, size, scale)
        pigment = _pigment(lesion_rng, size, scale, alpha, radial)
        image = skin * (1 - alpha[..., None]) + skin * pigment * alpha[..., None]
        mask = alpha >= 0.5
    else:
        image, mask = skin, np.zeros((size, size), dtype=bool)
    image = _draw_hairs(hair_rng, image, scale)
    image = image * _optics(optics_rng, size)[..., None]
    image = image + optics_rng.normal(0, 0.008, image.shape)  # sensor noise
    return np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8), mask


def case_id(label: int, number: int) -> str:
    """`SYN_` + the kind (1 lesion, 0 healthy) + the case's number within its kind, 7 digits in all."""
    return f"SYN_{label}{number:0{_ID_DIGITS}d}"


def write_synthetic_cohort(
    out_dir: str | os.PathLike,
    n_lesion: int,
    n_healthy: int,
    size: int = 128,
    seed: int = 2024,
    test_fraction: float = 0.3,
) -> pd.DataFrame:
    """Write a synthetic folder cohort to `out_dir` atomically; return its cohort table (sorted by id).

    Layout: `images/<id>.png`, `masks/<id>_segmentation.png` (0/255; all zero for healthy skin) and
    `labels.csv` (`id,label,split`; label 1 lesion / 0 healthy; a seeded split stratified by label).
    """
    if max(n_lesion, n_healthy) >= 10**_ID_DIGITS or min(n_lesion, n_healthy) < 0:
        raise ValueError(
            f"n_lesion and n_healthy must be in [0, {10**_ID_DIGITS}), got {n_lesion}, {n_healthy}"
        )
    out_dir = Path(out_dir)
    rows = []
    with atomic_dir(out_dir) as tmp:
        for label, count in ((1, n_lesion), (0, n_healthy)):
            for number in range(count):
                rng = np.random.default_rng([seed, label, number])
                image, mask = synthesise_case(rng, size, lesion=bool(label))
                cid = case_id(label, number)
                image_name, mask_name = f"images/{cid}.png", f"masks/{cid}_segmentation.png"
                _save_png(tmp / image_name, image)
                _save_png(tmp / mask_name, mask.astype(np.uint8) * 255)
                rows.append(
                    {
                        "id": cid,
                        "image_path": str(out_dir / image_name),
                        "mask_path": str(out_dir / mask_name),
                        "label": label,
                    }
                )
        cohort = pd.DataFrame(rows, columns=["id", "image_path", "mask_path", "label"])
        cohort["split"] = ""
        cohort = assign_splits(cohort, test_fraction, seed).sort_values("id", ignore_index=True)
        cohort[["id", "label", "split"]].to_csv(tmp / "labels.csv", index=False)
    return cohort


def _save_png(path: Path, array: np.ndarray) -> None:
    """Save a PNG inside the cohort's temporary folder, which is renamed as a whole when complete.

    Fast zlib (level 1): noisy images barely compress better at the default level 6, which would
    make PNG encoding the generator's slowest step.
    """
    path.parent.mkdir(exist_ok=True)
    Image.fromarray(array).save(path, format="PNG", compress_level=1)


def _skin_tone(rng: np.random.Generator) -> np.ndarray:
    i = rng.integers(len(_SKIN_TONES) - 1)
    mix = rng.uniform()
    return _SKIN_TONES[i] * (1 - mix) + _SKIN_TONES[i + 1] * mix + rng.normal(0, 0.015, 3)


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to unit standard deviation."""
    field = _blur_periodic(rng.standard_normal((size, size)), sigma)
    return field / (field.std() + 1e-12)


def _blur_periodic(field: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with wrap-around borders, in the Fourier domain.

    A multiplication there costs the same for any sigma, where a spatial kernel of the broad
    sigmas of skin texture (up to 28 px at 128 px) would dominate the generator's run time.
    """
    fy = np.fft.fftfreq(field.shape[0])[:, None]
    fx = np.fft.rfftfreq(field.shape[1])[None, :]
    gain = np.exp(-2 * (np.pi * sigma) ** 2 * (fy**2 + fx**2))
    return np.fft.irfft2(np.fft.rfft2(field) * gain, s=field.shape)


def _skin(rng: np.random.Generator, size: int, scale: float, tone: np.ndarray) -> np.ndarray:
    """Skin of one tone: broad brightness and redness variation plus fine surface texture."""
    brightness = 1 + rng.uniform(0.02, 0.06) * _smooth_noise(rng, size, 10 * scale)
    redness = rng.uniform(0.0, 0.05) * _smooth_noise(rng, size, 14 * scale)
    fine = 1 + 0.015 * _smooth_noise(rng, size, 0.7 * scale)
    skin = tone * (brightness * fine)[..., None]
    skin[..., 1:] -= redness[..., None] * tone[1:]  # erythema: less green and blue, red unchanged
    return skin


def _polar(size: int, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:size, :size] + 0.5
    dy, dx = yy - centre[0], xx - centre[1]
    return np.hypot(dy, dx), np.arctan2(dy, dx)


def _lesion_shape(rng: np.random.Generator, size: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The lesion's alpha and each pixel's radial position (0 at the centre, 1 on the border)."""
    area = size * size * np.exp(rng.uniform(*np.log(LESION_AREA_RANGE)))
    centre = size / 2 + np.clip(rng.normal(0, 0.06 * size, 2), -0.12 * size, 0.12 * size)
    aspect = rng.uniform(0.6, 1.0)
    tilt = rng.uniform(0, np.pi)
    harmonics = np.arange(2, 8)
    amplitudes = rng.uniform(0.04, 0.14) * rng.standard_normal(harmonics.size) / harmonics**1.2
    phases = rng.uniform(0, 2 * np.pi, harmonics.size)

    # The border's radius per angle: an ellipse of area pi (semi-axes 1/sqrt(aspect) and
    # sqrt(aspect)) times the wobble, tabulated finely and interpolated at each pixel's angle
    # (evaluating the harmonics per pixel would dominate the generator's run time).
    table_angles = np.linspace(0, 2 * np.pi, _BORDER_SAMPLES, endpoint=False)
    t = table_angles - tilt
    ellipse = 1 / np.sqrt(aspect * np.cos(t) ** 2 + np.sin(t) ** 2 / aspect)
    waves = amplitudes[:, None] * np.cos(harmonics[:, None] * table_angles + phases[:, None])
    unit_radius = ellipse * np.maximum(1 + waves.sum(axis=0), 0.3)
    # Area of a star-shaped region is half the integral of r^2 over the angle: scale to the target.
    radius_scale = np.sqrt(area / (np.pi * np.mean(unit_radius**2)))
    rho, angle = _polar(size, centre)
    border = radius_scale * np.interp(angle, table_angles, unit_radius, period=2 * np.pi)
    hard = np.clip(0.5 + border - rho, 0, 1)  # one-pixel antialiased edge
    alpha = ndimage.gaussian_filter(hard, rng.uniform(0.3, 2.2) * scale, mode="constant")
    return alpha, rho / border


def _pigment(
    rng: np.random.Generator, size: int, scale: float, alpha: np.ndarray, radial: np.ndarray
) -> np.ndarray:
    """Per-pixel factor (< 1) by which the lesion darkens and tints the skin below it."""
    darkness = rng.uniform(0.3, 0.7)
    if rng.uniform() < 0.15:  # blue-grey: dermal pigment (blue nevus, regression, veil)
        hue = np.array([0.8, 0.88, 1.0]) * rng.uniform(0.9, 1.05, 3)
    else:  # brown to dark brown: blue absorbed most, green next
        hue = np.array([1.0, rng.uniform(0.7, 0.85), rng.uniform(0.55, 0.75)])
    centre = darkness * hue * rng.uniform(0.45, 0.9)
    rim = darkness * hue + (1 - darkness * hue) * rng.uniform(0.15, 0.5)
    # Variegation: the rim-to-centre gradient, bent by low-frequency patches.
    profile = np.clip(radial ** rng.uniform(0.6, 2.0) + 0.25 * _smooth_noise(rng, size, 3 * scale), 0, 1)
    factor = centre * (1 - profile[..., None]) + rim * profile[..., None]
    if rng.uniform() < 0.35:  # a darker blotch (black or blue-grey)
        blotch = np.clip(_smooth_noise(rng, size, 4 * scale) - rng.uniform(0.6, 1.2), 0, 0.6)
        tint = np.array([0.35, 0.35, 0.42]) if rng.uniform() < 0.5 else np.array([0.3, 0.25, 0.22])
        factor = factor * (1 - blotch[..., None]) + tint * factor * blotch[..., None]
    if rng.uniform() < 0.5:  # pigment network: zero crossings of band-pass noise form a mesh
        band = _blur_periodic(rng.standard_normal((size, size)), 0.9 * scale)
        band -= _blur_periodic(band, 1.8 * scale)
        lines = np.exp(-((band / band.std()) ** 2) / 0.08)
        factor = factor * (1 - rng.uniform(0.15, 0.35) * lines)[..., None]
    if rng.uniform() < 0.5:  # globules: small dark dots inside the lesion
        factor = factor * (1 - _globules(rng, size, scale, alpha, radial))[..., None]
    return factor


def _globules(
    rng: np.random.Generator, size: int, scale: float, alpha: np.ndarray, radial: np.ndarray
) -> np.ndarray:
    inside = np.flatnonzero((radial < 0.85) & (alpha > 0.9))
    if inside.size == 0:
        return np.zeros((size, size))
    spots = np.zeros((size, size))
    picks = rng.choice(inside, size=min(inside.size, int(rng.integers(3, 13))), replace=False)
    spots.flat[picks] = 1.0
    sigma = rng.uniform(0.5, 1.0) * scale
    dots = ndimage.gaussian_filter(spots, sigma, mode="constant") * 2 * np.pi * sigma**2
    return np.clip(dots, 0, 1) * rng.uniform(0.3, 0.6)


def _draw_hairs(rng: np.random.Generator, image: np.ndarray, scale: float) -> np.ndarray:
    """Dark, thin, gently curved hairs drawn over skin and lesion alike."""
    size = image.shape[0]
    kind = rng.uniform()
    count = 0 if kind < 0.35 else int(rng.integers(8, 16)) if kind > 0.92 else 1 + rng.poisson(1.5)
    if count == 0:
        return image
    for _ in range(count):
        start = rng.uniform(-0.1, 1.1, 2) * size
        direction = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(0.3, 1.2) * size
        end = start + length * np.array([np.sin(direction), np.cos(direction)])
        bend = (start + end) / 2 + rng.uniform(-0.3, 0.3) * length * np.array(
            [np.cos(direction), -np.sin(direction)]
        )
        t = np.linspace(0, 1, max(int(length / 0.25), 2))[:, None]
        curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * bend + t**2 * end  # quadratic Bezier
        width = rng.uniform(0.5, 1.3) * scale
        opacity = rng.uniform(0.6, 0.95)
        colour = _HAIR_COLOUR * rng.uniform(0.5, 1.5)
        # Only pixels near the hair's bounding box can be covered: measure distances there alone.
        reach = width / 2 + 1
        top, left = np.clip(np.floor(curve.min(axis=0) - reach).astype(int), 0, size)
        bottom, right = np.clip(np.ceil(curve.max(axis=0) + reach).astype(int), 0, size)
        if bottom <= top or right <= left:
            continue
        pixels = np.stack(np.mgrid[top:bottom, left:right] + 0.5, axis=-1).reshape(-1, 2)
        distance, _ = cKDTree(curve).query(pixels, distance_upper_bound=reach)
        cover = np.clip(width / 2 + 0.5 - distance, 0, 1).reshape(bottom - top, right - left)  # inf -> 0
        a = (opacity * cover)[..., None]
        box = image[top:bottom, left:right]
        image[top:bottom, left:right] = box * (1 - a) + colour * a
    return image


def _optics(rng: np.random.Generator, size: int) -> np.ndarray:
    """Illumination: radial falloff of the scope's light, sometimes its dark circular field stop."""
    rho, _ = _polar(size, size / 2 + rng.normal(0, 0.04 * size, 2))
    r = rho / (size / np.sqrt(2))  # 1 at the corners
    light = 1 - rng.uniform(0.1, 0.45) * r ** rng.uniform(2, 4)
    if rng.uniform() < 0.25:
        stop = rng.uniform(0.78, 1.0)  # radius of the field of view, as a fraction of the half-diagonal
        softness = rng.uniform(0.01, 0.04)
        field = 1 / (1 + np.exp((r - stop) / softness))
        light = light * (0.04 + 0.96 * field)
    return light
