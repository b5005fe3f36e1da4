"""What a camera over a hot strip mill does to an image: noise, specks, light, blur, compression, tilt,
and a line-scan camera's own artefacts: gain stripes along rows and columns, dead or hot columns,
jitter between lines.

Each perturbation takes float pixels 0..255 shaped (n, height, width, channels) and a strength in
its own unit (params.yaml, `robustness.perturbations`), and returns pixels of the same shape
clipped to 0..255. At its neutral value (NEUTRAL) every perturbation returns the images unchanged,
so "severity 0" is the clean test set. Random ones draw from the generator they are given: the
stage seeds one per perturbation and strength, so reruns match exactly.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

from steel_defect.errors import UserError
from steel_defect.params import get

# The value at which each perturbation is the identity; strength is the distance from it.
NEUTRAL = {
    "gaussian_noise": 0.0,  # sigma, in pixel levels (0..255)
    "salt_pepper": 0.0,  # fraction of pixels set to 0 or 255
    "brightness": 0.0,  # offset, as a fraction of the 0..255 range (+0.2: 51 levels brighter)
    "gain": 1.0,  # pixels multiplied by this
    "contrast": 1.0,  # distance from each image's mean multiplied by this
    "gaussian_blur": 0.0,  # sigma, in pixels
    "motion_blur": 0.0,  # length of a horizontal streak, in pixels (0 and 1: none)
    "illumination": 0.0,  # a linear light gradient across the image: +-this fraction of the range at the edges
    "jpeg_quality": 100.0,  # JPEG quality (100: not compressed at all, the identity)
    "rotation": 0.0,  # degrees, about the centre, edges mirrored
    "flip": 0.0,  # 0 none, 1 left-right, 2 up-down
    # a line-scan camera's artefacts (the sensor is one row of pixels; the strip's motion makes the other axis)
    "column_gain": 0.0,  # sigma of a per-column gain drawn from N(1, sigma): pixel response non-uniformity
    "row_gain": 0.0,  # sigma of a per-row gain drawn from N(1, sigma): lamp flicker from line to line
    "dead_columns": 0.0,  # columns per image stuck at 0 or 255 (dead or hot pixels of the line sensor)
    "row_jitter": 0.0,  # sigma, in pixels, of each row's sideways shift: encoder jitter between lines
    "vignetting": 0.0,  # light falloff towards the corners: pixels times 1 - this * (distance from centre)^2
    "occlusion": 0.0,  # fraction of each image hidden by a flat patch of its mean grey: steam, water, scale
}


def _gaussian_noise(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return x + rng.normal(0.0, sigma, x.shape) if sigma else x


def _salt_pepper(x: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    if not fraction:
        return x
    out = x.copy()
    hit = rng.random(x.shape[:3]) < fraction  # the same pixel in every channel, as a speck would be
    out[hit] = np.where(rng.random(int(hit.sum())) < 0.5, 0.0, 255.0)[:, None]
    return out


def _brightness(x: np.ndarray, offset: float, rng: np.random.Generator) -> np.ndarray:
    return x + 255.0 * offset


def _gain(x: np.ndarray, gain: float, rng: np.random.Generator) -> np.ndarray:
    return x * gain


def _contrast(x: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return mean + (x - mean) * factor


def _gaussian_blur(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return ndimage.gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="reflect") if sigma else x


def _motion_blur(x: np.ndarray, length: float, rng: np.random.Generator) -> np.ndarray:
    n = int(round(length))
    return ndimage.uniform_filter1d(x, size=n, axis=2, mode="reflect") if n > 1 else x


def _illumination(x: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """A linear ramp from -amplitude to +amplitude of the range across each image, in a random direction."""
    if not amplitude:
        return x
    _, height, width, _ = x.shape
    yy, xx = np.mgrid[-1 : 1 : height * 1j, -1 : 1 : width * 1j]
    out = np.empty_like(x)
    for i, angle in enumerate(rng.uniform(0, 2 * np.pi, len(x))):
        ramp = (np.cos(angle) * xx + np.sin(angle) * yy) / np.sqrt(2)
        out[i] = x[i] + 255.0 * amplitude * ramp[..., None]
    return out


def _jpeg(x: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    if quality >= 100:
        return x
    out = np.empty_like(x)
    for i, image in enumerate(np.clip(np.round(x), 0, 255).astype(np.uint8)):
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, "JPEG", quality=int(quality))
        decoded = np.asarray(Image.open(buffer), dtype=np.float32)
        out[i] = decoded.reshape(image.shape)
    return out


def _rotation(x: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    return ndimage.rotate(x, degrees, axes=(2, 1), reshape=False, order=1, mode="reflect") if degrees else x


def _flip(x: np.ndarray, which: float, rng: np.random.Generator) -> np.ndarray:
    return {0: x, 1: x[:, :, ::-1], 2: x[:, ::-1]}[int(which)]


def _column_gain(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Each image its own draw (one camera calibration per image), one gain per column across all its rows."""
    return x * rng.normal(1.0, sigma, (len(x), 1, x.shape[2], 1)) if sigma else x


def _row_gain(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return x * rng.normal(1.0, sigma, (len(x), x.shape[1], 1, 1)) if sigma else x


def _dead_columns(x: np.ndarray, count: float, rng: np.random.Generator) -> np.ndarray:
    n = min(int(round(count)), x.shape[2])
    if not n:
        return x
    out = x.copy()
    for i in range(len(x)):
        for column in rng.choice(x.shape[2], n, replace=False):
            out[i, :, column] = 255.0 * rng.integers(0, 2)
    return out


def _row_jitter(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Each row moved sideways by a whole number of pixels drawn from N(0, sigma), edges mirrored."""
    if not sigma:
        return x
    n, height, width, _ = x.shape
    shifts = np.rint(rng.normal(0.0, sigma, (n, height))).astype(int)
    columns = np.arange(width)[None, None, :] - shifts[..., None]  # (n, height, width): where each pixel comes from
    period = 2 * width - 2 if width > 1 else 1
    columns = np.mod(columns, period)
    columns = np.where(columns >= width, period - columns, columns)  # reflect, as the other geometric faults do
    return np.take_along_axis(x, columns[..., None].repeat(x.shape[3], axis=3), axis=2)


def _vignetting(x: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    if not amount:
        return x
    _, height, width, _ = x.shape
    yy, xx = np.mgrid[-1 : 1 : height * 1j, -1 : 1 : width * 1j]
    return x * (1.0 - amount * (xx**2 + yy**2) / 2.0)[None, ..., None]


def _occlusion(x: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """One axis-aligned patch per image covering `fraction` of it, at a random place, filled with the image's mean."""
    if not fraction:
        return x
    _, height, width, _ = x.shape
    out = x.copy()
    for i in range(len(x)):
        aspect = rng.uniform(0.5, 2.0)  # height / width of the patch
        h = min(height, max(1, int(round(np.sqrt(fraction * height * width * aspect)))))
        w = min(width, max(1, int(round(fraction * height * width / h))))
        top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        out[i, top : top + h, left : left + w] = x[i].mean(axis=(0, 1))
    return out


PERTURBATIONS: dict[str, Callable[[np.ndarray, float, np.random.Generator], np.ndarray]] = {
    "gaussian_noise": _gaussian_noise,
    "salt_pepper": _salt_pepper,
    "brightness": _brightness,
    "gain": _gain,
    "contrast": _contrast,
    "gaussian_blur": _gaussian_blur,
    "motion_blur": _motion_blur,
    "illumination": _illumination,
    "jpeg_quality": _jpeg,
    "rotation": _rotation,
    "flip": _flip,
    "column_gain": _column_gain,
    "row_gain": _row_gain,
    "dead_columns": _dead_columns,
    "row_jitter": _row_jitter,
    "vignetting": _vignetting,
    "occlusion": _occlusion,
}


def perturb(images: np.ndarray, name: str, value: float, seed: int = 0) -> np.ndarray:
    """`images` (n, h, w, c; 0..255) under perturbation `name` at `value`, clipped to 0..255 (float32).

    The generator is seeded from `seed`, the perturbation and the value, so each setting draws the
    same noise on every run and different settings draw independently.
    """
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r}; expected one of {', '.join(PERTURBATIONS)}")
    key = [seed, list(PERTURBATIONS).index(name), int(round(abs(value) * 1000)), int(value < 0)]
    rng = np.random.default_rng(key)
    x = np.asarray(images, dtype=np.float32)
    return np.clip(PERTURBATIONS[name](x, float(value), rng), 0.0, 255.0).astype(np.float32)


def strength(name: str, value: float) -> float:
    """How far `value` is from the identity, in the perturbation's own unit (for the moderate bounds)."""
    return abs(float(value) - NEUTRAL[name])


def perturbation_table(params: dict, key: str) -> dict[str, list[float]]:
    """params[key] (perturbation name -> list of strengths), checked; the robustness stage's and validation's family."""
    table = get(params, key)
    if not isinstance(table, dict) or not table:
        raise UserError(f"params.yaml: '{key}' must map perturbation names to lists of values")
    for name, values in table.items():
        if name not in PERTURBATIONS:
            raise UserError(f"params.yaml: '{key}.{name}' is unknown; choose from {', '.join(PERTURBATIONS)}")
        if not isinstance(values, list) or not values or not all(isinstance(v, (int, float)) for v in values):
            raise UserError(f"params.yaml: '{key}.{name}' is {values!r}; expected a list of numbers")
    return {k: [float(v) for v in vs] for k, vs in table.items()}
