"""Decode images with Pillow and load them as arrays, with errors that name the file."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

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


def to_8bit(img: Image.Image) -> Image.Image:
    """Camera output in the 8-bit range the models learn on: 16-bit (and 32-bit integer) images scaled
    from 0..65535 to 0..255, float images from 0..1, never clipped to their darkest 256 levels (which is
    what Pillow's own convert does); every other mode is left for `convert` (CMYK, alpha, palette).
    """
    if img.mode == "I" or img.mode.startswith("I;16"):
        scaled = np.asarray(img, dtype=np.float64) / 257.0
    elif img.mode == "F":
        array = np.asarray(img, dtype=np.float64)
        scaled = array * 255.0 if np.nanmax(array, initial=0.0) <= 1.0 else array
    else:
        return img
    return Image.fromarray(np.clip(np.round(np.nan_to_num(scaled)), 0, 255).astype(np.uint8), "L")


def _is_colour(img: Image.Image) -> bool:
    """True when the channels really differ; a gray picture saved as RGB is not colour."""
    if img.mode in ("1", "L", "LA", "I", "F") or img.mode.startswith("I;16"):
        return False
    rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
    return max(np.abs(rgb[..., 0] - rgb[..., 1]).mean(), np.abs(rgb[..., 1] - rgb[..., 2]).mean()) > COLOUR_THRESHOLD


@contextmanager
def decoding(path: str | Path) -> Iterator[None]:
    """Whatever a decoder raises on one file becomes one UserError line naming the file and the reason.

    Files come from users and cameras, so the list of what Pillow's plugins can raise is open-ended
    (OSError, SyntaxError, ValueError, struct.error, EOFError, ...): every Exception is caught, and an
    image large enough to trigger Pillow's bomb warning is refused rather than decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # palette transparency notes and the like
            yield
    except UserError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise UserError(
            f"{path}: refused as a possible decompression bomb ({err}); images over {MAX_PIXELS:,} pixels are not "
            "defect photos: replace or remove it"
        ) from None
    except Exception as err:  # any decoder failure is the file's fault (see the docstring)
        reason = str(err) or type(err).__name__
        raise UserError(f"{path}: not a readable image ({reason}); replace or remove it") from None


def inspect_image(path: str | Path) -> ImageInfo:
    """Fully decode one image so a truncated, oversized or non-image file fails here, not mid-training."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file (0 bytes); replace or remove it")
    with decoding(path):
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            img.load()
            return ImageInfo(img.width, img.height, img.mode, _is_colour(img))


def read_image(path: str | Path, channels: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """An image as a (height, width, channels) uint8 array, resized to size=(width, height) when it differs.

    16-bit images are scaled to 8 bits (`to_8bit`); CMYK, palette and alpha images are converted to
    gray or RGB as the model expects.
    """
    with decoding(path), Image.open(path) as img:
        img = to_8bit(img).convert("L" if channels == 1 else "RGB")
        if size is not None and img.size != tuple(size):
            img = img.resize(tuple(size), Image.BILINEAR)
        array = np.asarray(img, dtype=np.uint8)
    return array[..., None] if channels == 1 else array


def load_stack(paths: list[str | Path], root: str | Path, channels: int, size: tuple[int, int]) -> np.ndarray:
    """Load images as one (n, height, width, channels) uint8 array, each resized to size=(width, height)."""
    if not paths:
        return np.zeros((0, size[1], size[0], channels), np.uint8)
    return np.stack([read_image(Path(root) / p, channels, size) for p in paths])


def write_png(path: str | Path, array: np.ndarray) -> None:
    array = np.asarray(array, dtype=np.uint8)
    Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array).save(path)
