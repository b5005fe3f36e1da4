"""The learning curve's methods on one labelled draw, all trained from the features cache.

Kept apart from steel_defect/curve.py (draws, self-training, summaries: NumPy and scikit-learn only)
because these need Keras; compare imports curve and should not load TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from steel_defect.curve import self_train
from steel_defect.metrics import fit_baseline
from steel_defect.model import assemble, compile_fine_tuning, compiled_head, tensors_named, trainable_part
from steel_defect.training import seed_everything


@dataclass(frozen=True)
class Settings:
    """What the methods train with: the pipeline's own head, baseline and fine-tuning params, fixed epochs."""

    c: float
    max_iter: int
    units: int
    dropout: float
    head_lr: float
    head_batch: int
    head_epochs: int
    optimizer: str
    ft_lr: float
    ft_decay: float
    ft_batch: int
    ft_epochs: int
    rounds: int
    pseudo_head_epochs: int
    pseudo_finetune_epochs: int
    backbone: str = "models/backbone/backbone.keras"


@dataclass(frozen=True)
class Cache:
    """The features cache, indexed by row: labels, pooled features, cut activations and each original's copies."""

    table: pd.DataFrame
    y: np.ndarray
    pooled: np.ndarray
    cuts: list[np.ndarray]
    cut_names: list[str]
    copies: dict[str, np.ndarray]
    test: np.ndarray
    n_classes: int

    def with_copies(self, index: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows plus their augmented copies, each copy carrying its original's (pseudo-)label."""
        extra = [self.copies.get(p, np.array([], int)) for p in self.table.loc[index, "path"]]
        copy_labels = [np.full(len(e), label) for e, label in zip(extra, labels, strict=True)]
        return np.concatenate([index, *extra]), np.concatenate([labels, *copy_labels])

    def cut_rows(self, index: np.ndarray):
        return self.cuts[0][index] if len(self.cuts) == 1 else [a[index] for a in self.cuts]

    def accuracy(self, probs: np.ndarray) -> float:
        return float((np.asarray(probs).argmax(1) == self.y[self.test]).mean())


def _head(cache: Cache, s: Settings, rows: np.ndarray, labels: np.ndarray, epochs: int, seed: int) -> keras.Model:
    seed_everything(seed)
    head = compiled_head(cache.pooled.shape[1], cache.n_classes, s.units, s.dropout, s.head_lr)
    head.fit(cache.pooled[rows], labels, epochs=epochs, batch_size=s.head_batch, shuffle=True, verbose=0)
    return head


def _fine_tune(cache: Cache, s: Settings, head: keras.Model, rows: np.ndarray, labels: np.ndarray, epochs: int) -> float:
    """fine_tune's recipe (the layers after the cut, on cached activations), for a fixed number of epochs."""
    classifier = assemble(keras.models.load_model(s.backbone), head)  # a fresh backbone each time: training changes it
    part = trainable_part(classifier, tensors_named(classifier, cache.cut_names))
    compile_fine_tuning(part, s.optimizer, s.ft_lr, s.ft_decay, steps_per_epoch=math.ceil(len(rows) / s.ft_batch))
    part.fit(cache.cut_rows(rows), labels, epochs=epochs, batch_size=s.ft_batch, shuffle=True, verbose=0)
    return cache.accuracy(part.predict(cache.cut_rows(cache.test), batch_size=64, verbose=0))


def score_draw(
    cache: Cache,
    s: Settings,
    labelled: np.ndarray,
    unlabelled: np.ndarray,
    seed: int,
    fine_tune: bool,
    semi_supervised: bool,
    pseudo_head: bool,
    pseudo_finetune: bool = False,
) -> dict[str, float]:
    """Test accuracy of every method on one draw. Only y[labelled] is read; the unlabelled rows' labels never are.

    `pseudo_finetune` starts from the pseudo-label head (so it is trained too) and fine-tunes the
    backbone's top on the same pseudo-labelled pool: the frozen features cap every other method at
    about the all-labels head (99.67% on NEU-CLS), so the backbone has to learn from the pool.
    """
    y_labelled = cache.y[labelled]
    fit_lr = lambda x, labels: fit_baseline(x, labels, s.c, s.max_iter)  # noqa: E731
    result = {"baseline": cache.accuracy(fit_lr(cache.pooled[labelled], y_labelled).predict_proba(cache.pooled[cache.test]))}
    rows, labels = cache.with_copies(labelled, y_labelled)
    head = _head(cache, s, rows, labels, s.head_epochs, seed)
    result["head"] = cache.accuracy(head.predict(cache.pooled[cache.test], batch_size=256, verbose=0))
    if fine_tune:
        result["fine_tuned"] = _fine_tune(cache, s, head, rows, labels, s.ft_epochs)
    if semi_supervised and len(unlabelled):
        x_unlabelled = cache.pooled[unlabelled]
        model, pseudo = self_train(cache.pooled[labelled], y_labelled, x_unlabelled, cache.n_classes, s.rounds, fit_lr)
        result["self_training"] = cache.accuracy(model.predict_proba(cache.pooled[cache.test]))
        if pseudo_head or pseudo_finetune:
            keep = pseudo >= 0
            rows, labels = cache.with_copies(
                np.concatenate([labelled, unlabelled[keep]]), np.concatenate([y_labelled, pseudo[keep]])
            )
            head = _head(cache, s, rows, labels, s.pseudo_head_epochs, seed)
            result["self_training_head"] = cache.accuracy(head.predict(cache.pooled[cache.test], batch_size=256, verbose=0))
            if pseudo_finetune:
                result["self_training_fine_tuned"] = _fine_tune(cache, s, head, rows, labels, s.pseudo_finetune_epochs)
    return result
