"""The paper's augmentation (rotation, flip, shear, zoom) as Keras preprocessing layers, seeded."""

from __future__ import annotations

import numpy as np

from steel_defect.errors import UserError


def build_augmenter(angle: float, flip: bool, shear: float, zoom: float, seed: int):
    """A Sequential of Keras random layers; `angle` (degrees) is fixed so rotations come from a set."""
    import keras
    from keras import layers

    turn = angle / 360.0
    steps = [layers.RandomRotation((turn, turn), fill_mode="reflect", seed=seed)] if angle else []
    if flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed + 1))
    if shear:
        steps.append(layers.RandomShear(x_factor=shear, y_factor=shear, fill_mode="reflect", seed=seed + 2))
    if zoom:
        steps.append(layers.RandomZoom((-zoom, zoom), fill_mode="reflect", seed=seed + 3))
    return keras.Sequential(steps or [layers.Identity()])


def augment_images(
    images: np.ndarray,
    copies: int,
    angles: list[float],
    flip: bool,
    shear: float,
    zoom: float,
    seed: int,
    batch_size: int = 64,
) -> np.ndarray:
    """Return (n, copies, h, w, 1) uint8 variants of (n, h, w, 1) uint8 images.

    Each variant draws one angle from `angles`; images sharing an angle go through the layers in batches.
    """
    if not angles:
        raise UserError("params.yaml: 'augment.rotations' is empty; list at least one angle, e.g. [0]")
    rng = np.random.default_rng(seed)
    augmenters = {a: build_augmenter(a, flip, shear, zoom, seed + 10 * i) for i, a in enumerate(sorted(set(angles)))}
    out = np.empty((len(images), copies, *images.shape[1:]), np.uint8)
    for copy in range(copies):
        chosen = rng.choice(np.asarray(angles, dtype=float), size=len(images))
        for angle, augmenter in augmenters.items():
            index = np.flatnonzero(chosen == angle)
            for start in range(0, len(index), batch_size):
                batch = index[start : start + batch_size]
                result = np.asarray(augmenter(images[batch].astype("float32"), training=True))
                out[batch, copy] = np.clip(np.rint(result), 0, 255).astype(np.uint8)
    return out
