"""Decode images with Pillow and load them as arrays, with errors that name the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from steel_defect.errors import UserError

Image.MAX_IMAGE_PIXELS = 50_000_000  # refuse decompression bombs early


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    mode: str


def inspect_image(path: str | Path, expected_size: tuple[int, int] | None = None) -> ImageInfo:
    """Fully decode one image so a truncated or non-image file fails here, not mid-training."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file (0 bytes); replace or remove it")
    try:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            img.load()
            info = ImageInfo(img.width, img.height, img.mode)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise UserError(f"{path}: not a readable image ({err}); replace or remove it") from None
    if expected_size is not None and (info.width, info.height) != tuple(expected_size):
        raise UserError(
            f"{path}: image is {info.width}x{info.height}, expected {expected_size[0]}x{expected_size[1]} "
            "(fix the file or set fetch.expected_size: null)"
        )
    return info


def read_gray(path: str | Path) -> np.ndarray:
    """An image as a (height, width) uint8 grayscale array."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise UserError(f"{path}: not a readable image ({err})") from None


def load_stack(paths: list[str | Path], root: str | Path = ".") -> np.ndarray:
    """Load same-sized images as an (n, height, width, 1) uint8 array."""
    arrays = [read_gray(Path(root) / p) for p in paths]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise UserError(f"images under {root} differ in size {sorted(shapes)}; set fetch.expected_size to catch this at fetch")
    return np.stack(arrays)[..., None] if arrays else np.zeros((0, 1, 1, 1), np.uint8)


def write_png(path: str | Path, array: np.ndarray) -> None:
    Image.fromarray(np.asarray(array, dtype=np.uint8).squeeze(-1) if array.ndim == 3 else array).save(path)
