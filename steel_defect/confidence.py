"""What `steel-defect predict --min-confidence` would do on the test subset: coverage and accuracy per threshold."""

from __future__ import annotations

import numpy as np


def coverage_table(y_true: np.ndarray, probs: np.ndarray, thresholds: list[float]) -> list[dict]:
    """Per threshold: the share of images still given a class (top probability >= threshold), the
    accuracy on those, and how many errors are left and how many images would be marked 'uncertain'."""
    top, right = probs.max(1), probs.argmax(1) == y_true
    rows = []
    for t in thresholds:
        kept = top >= t
        rows.append(
            {
                "min_confidence": t,
                "coverage": float(kept.mean()),
                "accuracy_on_covered": float(right[kept].mean()) if kept.any() else None,
                "errors_left": int((kept & ~right).sum()),
                "uncertain": int((~kept).sum()),
            }
        )
    return rows
