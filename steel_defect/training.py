"""Keras training glue shared by the training stages: seeding, callbacks, class weights and data selection."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from steel_defect.atomic import atomic_dir
from steel_defect.dataset import DatasetSpec
from steel_defect.machine import describe

TRAIN_SUBSETS = ("train", "augmented")
CLASS_WEIGHTS = ["balanced", "none"]


def seed_everything(seed: int) -> None:
    """Same seed, same instruction set -> same weights: Python, NumPy and TF seeds plus TF's deterministic kernels.

    Deterministic kernels still compute differently on AVX2 and AVX-512 CPUs (machine.py), so `fit`
    records the machine beside the curves.
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@dataclass(frozen=True)
class Rows:
    """Class indices and one boolean mask per role for the rows of the features table."""

    classes: list[str]
    y: np.ndarray
    train: np.ndarray  # training originals and their augmented copies
    originals: np.ndarray  # training originals only (what the baseline sees)
    val: np.ndarray
    test: np.ndarray


def rows_of(table: pd.DataFrame, spec: DatasetSpec) -> Rows:
    """Masks over the features table; the spec (data/dataset.json) fixes the label order."""
    subset = table["subset"]
    return Rows(
        classes=spec.classes,
        y=spec.labels(table["class"]),
        train=subset.isin(TRAIN_SUBSETS).to_numpy(),
        originals=(subset == "train").to_numpy(),
        val=(subset == "val").to_numpy(),
        test=(subset == "test").to_numpy(),
    )


def class_weights(y: np.ndarray, n_classes: int, mode: str) -> dict[int, float] | None:
    """'balanced': each class weighs n / (k * n_c), so a 63-image class counts as much as a 397-image one."""
    if mode == "none":
        return None
    counts = np.bincount(y, minlength=n_classes)
    return {c: float(len(y) / (n_classes * n)) for c, n in enumerate(counts) if n}


def fit(model: keras.Model, x, y, x_val, y_val, live_dir: str, epochs: int, batch_size: int, callbacks: list, class_weight=None):
    """model.fit with curves logged by dvclive into a temporary folder renamed onto `live_dir` when done.

    Live(dvcyaml=False): plots are declared in dvc.yaml. A killed run leaves the previous curves.
    The machine (CPU and instruction set, which decide the last bits of every gradient) goes into
    the folder's params.yaml, so a run that does not reproduce elsewhere says where it ran.
    """
    with atomic_dir(live_dir) as tmp, Live(str(tmp), dvcyaml=False, save_dvc_exp=False) as live:
        live.log_params({"machine": describe()})
        history = model.fit(
            x,
            y,
            validation_data=(x_val, y_val),
            epochs=epochs,
            batch_size=batch_size,
            callbacks=[*callbacks, DVCLiveCallback(live=live)],
            class_weight=class_weight,
            verbose=2,
            shuffle=True,
        )
    return history


def early_stopping(patience: int, min_delta: float = 0.0) -> keras.callbacks.EarlyStopping:
    return keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, min_delta=min_delta, restore_best_weights=True)
