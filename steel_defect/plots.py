"""Figures a person would rather look at than read; class names of any length stay legible."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from steel_defect.atomic import atomic_file  # noqa: E402

LABEL_WIDTH = 16  # characters per line of a wrapped class name


def wrap_label(name: str, width: int = LABEL_WIDTH) -> str:
    """'oxide scale of temperature system' -> two or three short lines, so tick labels never overlap."""
    return "\n".join(textwrap.wrap(name, width, break_long_words=True)) or name


def show_image(ax, image: np.ndarray) -> None:
    """Grayscale (h, w, 1) in gray, colour (h, w, 3) as it is; no ticks."""
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])


def save(fig, path: str | Path, dpi: int = 90) -> None:
    """Write a figure atomically and free it."""
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=dpi, metadata={"Software": None})
    plt.close(fig)


def contact_sheet(path: str | Path, originals: np.ndarray, variants: np.ndarray, labels: list[str], title: str = "") -> None:
    """One row per image: the original, then its augmented variants; the row's class name on the left."""
    rows, copies = variants.shape[:2]
    fig, axes = plt.subplots(rows, copies + 1, figsize=(1.6 * (copies + 1) + 1.2, 1.6 * rows), squeeze=False)
    for r in range(rows):
        for c in range(copies + 1):
            show_image(axes[r, c], originals[r] if c == 0 else variants[r, c - 1])
            if r == 0:
                axes[r, c].set_title("original" if c == 0 else f"variant {c}", fontsize=8)
        axes[r, 0].set_ylabel(wrap_label(labels[r]), fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save(fig, path, dpi=80)
