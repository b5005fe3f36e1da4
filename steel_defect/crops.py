"""Fine-tuning on random crops of the cached cut activations: the same layers, a fraction of the arithmetic.

Everything after the cut is convolutions and a global pool, so a window of the cut map is a valid input,
and a window costs (side / map side)^2 of a full row's arithmetic. Unlike a smaller input image
(experiments row 26), a crop keeps the texture at its own scale. The deployed model still reads whole
images; only training sees windows.
"""

from __future__ import annotations

import math

import keras
import numpy as np


def any_size(part: keras.Model) -> keras.Model:
    """`part` taking cut maps of any height and width: the very same layers, so training it trains `part`."""
    inputs = [keras.Input((None, None, t.shape[-1]), name=f"{t.name}_any_size") for t in part.inputs]
    same = inputs if len(inputs) > 1 else inputs[0]
    return keras.models.clone_model(part, input_tensors=same, clone_function=lambda layer: layer)


def total_stride(part: keras.Model, backbone: keras.Model) -> int:
    """Cut-map cells per cell of the backbone's last map: windows on multiples of it see the full map's grid."""
    return max(1, int(part.inputs[0].shape[1]) // int(backbone.output.shape[1]))


def crop_side(full: int, fraction: float, stride: int) -> int:
    """`fraction` of the map's side, in whole strides (at least one)."""
    return min(full, max(stride, round(full * fraction / stride) * stride))


class RandomCrops(keras.utils.PyDataset):
    """Shuffled batches of cut maps, each row cropped to a random `side` x `side` window, fresh every epoch.

    Windows start on multiples of `stride`, so through the strided layers the cropped map lines up with
    the full map's grid. With several cut tensors (NASNet), each is cropped at the same place, scaled to
    its own size. The order and the windows follow from `seed` alone.
    """

    def __init__(self, x: list[np.ndarray], y: np.ndarray, batch_size: int, side: int, stride: int, seed: int):
        super().__init__()
        self.x, self.y, self.batch_size, self.side, self.stride = x, y, batch_size, side, stride
        self.full = x[0].shape[1]
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.y))
        self.corners = self.rng.integers(0, (self.full - self.side) // self.stride + 1, size=(len(self.y), 2)) * self.stride

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        crops = []
        for x in self.x:
            scale = x.shape[1] / self.full
            side = round(self.side * scale)
            corners = np.round(self.corners[rows] * scale).astype(int)
            crops.append(np.stack([x[r, i : i + side, j : j + side] for r, (i, j) in zip(rows, corners, strict=True)]))
        return (crops if len(crops) > 1 else crops[0]), self.y[rows]
