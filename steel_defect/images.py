"""Decode images with Pillow and load them as arrays, with errors that name the file."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from steel_defect.errors import UserError

IMAGE_SUFFIXES = (".bmp", ".jpg", ".jpeg", ".png", ".tif", ".tiff")
MAX_PIXELS = 50_000_000  # far above any defect photo; a larger image is refused as a likely decompression bomb
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
COLOUR_THRESHOLD = 2.0  # mean |R-G| or |G-B| above this (0..255 scale) counts as colour; JPEG noise on gray stays below


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    mode: str
    colour: bool


def _is_colour(img: Image.Image) -> bool:
    """True when the channels really differ; a gray picture saved as RGB is not colour."""
    if img.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return False
    rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
    return max(np.abs(rgb[..., 0] - rgb[..., 1]).mean(), np.abs(rgb[..., 1] - rgb[..., 2]).mean()) > COLOUR_THRESHOLD


def inspect_image(path: str | Path) -> ImageInfo:
    """Fully decode one image so a truncated, oversized or non-image file fails here, not mid-training."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file (0 bytes); replace or remove it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.verify()
            with Image.open(path) as img:
                img.load()
                return ImageInfo(img.width, img.height, img.mode, _is_colour(img))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise UserError(
            f"{path}: refused as a possible decompression bomb ({err}); images over {MAX_PIXELS:,} pixels are not "
            "defect photos: replace or remove it"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise UserError(f"{path}: not a readable image ({err}); replace or remove it") from None


def read_image(path: str | Path, channels: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """An image as a (height, width, channels) uint8 array, resized to size=(width, height) when it differs."""
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            if size is not None and img.size != tuple(size):
                img = img.resize(tuple(size), Image.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise UserError(f"{path}: not a readable image ({err})") from None
    return array[..., None] if channels == 1 else array


def load_stack(paths: list[str | Path], root: str | Path, channels: int, size: tuple[int, int]) -> np.ndarray:
    """Load images as one (n, height, width, channels) uint8 array, each resized to size=(width, height)."""
    if not paths:
        return np.zeros((0, size[1], size[0], channels), np.uint8)
    return np.stack([read_image(Path(root) / p, channels, size) for p in paths])


def write_png(path: str | Path, array: np.ndarray) -> None:
    array = np.asarray(array, dtype=np.uint8)
    Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array).save(path)
