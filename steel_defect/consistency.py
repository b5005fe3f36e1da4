"""Fine-tuning with consistency between an image and its augmented copies (`finetune.consistency`).

Cross-entropy teaches each copy its label; it does not ask the copies of one image to agree, so a
fault the copies carry can still move the prediction while the label holds. AugMix (Hendrycks et
al., 2020, arXiv:1912.02781) adds the Jensen-Shannon divergence among the predictions for one
image's views, which made its models robust to corruptions they never trained on. Here the views
are a training original and its augmented copies, batched together; the term counts in training
only, so the validation loss that early stopping watches stays the cross-entropy.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

EPSILON = 1e-7


def js_divergence(probabilities, group_size: int):
    """Mean over groups of consecutive rows of the Jensen-Shannon divergence among their predictions (nats)."""
    p = ops.clip(ops.reshape(probabilities, (-1, group_size, ops.shape(probabilities)[-1])), EPSILON, 1.0)
    mixture = ops.mean(p, axis=1, keepdims=True)
    return ops.mean(ops.sum(p * (ops.log(p) - ops.log(mixture)), axis=-1))


class ConsistentModel(keras.Model):
    """`part`'s layers (shared, so training this trains `part`) with `weight` x JS divergence added in training."""

    def __init__(self, part: keras.Model, group_size: int, weight: float):
        inputs = part.inputs if len(part.inputs) > 1 else part.inputs[0]
        super().__init__(inputs, part.outputs[0], name=f"{part.name}_consistent")
        self.group_size, self.weight = group_size, weight

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        if training:
            loss = loss + self.weight * js_divergence(y_pred, self.group_size)
        return loss


class GroupBatches(keras.utils.PyDataset):
    """Batches of whole groups (an original and its copies, rows of `groups`), reshuffled by group every epoch."""

    def __init__(self, x, y: np.ndarray, groups: np.ndarray, batch_size: int, seed: int):
        super().__init__()
        self.x, self.y, self.groups = x, y, groups
        self.per_batch = max(1, round(batch_size / groups.shape[1]))
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(groups))

    def __len__(self) -> int:
        return math.ceil(len(self.groups) / self.per_batch)

    def __getitem__(self, index: int):
        rows = self.groups[self.order[index * self.per_batch : (index + 1) * self.per_batch]].ravel()
        x = [a[rows] for a in self.x] if isinstance(self.x, list) else self.x[rows]
        return x, self.y[rows]

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.groups))
