"""Figures a person would rather look at than read."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from steel_defect.atomic import atomic_file  # noqa: E402


def contact_sheet(path: str | Path, originals: np.ndarray, variants: np.ndarray, labels: list[str]) -> None:
    """One row per image: the original, then its augmented variants."""
    rows, copies = variants.shape[:2]
    fig, axes = plt.subplots(rows, copies + 1, figsize=(1.6 * (copies + 1), 1.6 * rows), squeeze=False)
    for r in range(rows):
        for c in range(copies + 1):
            ax = axes[r, c]
            ax.imshow((originals[r] if c == 0 else variants[r, c - 1]).squeeze(-1), cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("original" if c == 0 else f"variant {c}", fontsize=8)
        axes[r, 0].set_ylabel(labels[r], fontsize=8)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
