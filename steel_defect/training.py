"""Keras training glue shared by the two training stages: callbacks and data selection."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from dvclive import Live
from dvclive.keras import DVCLiveCallback

TRAIN_SUBSETS = ("train", "augmented")


@dataclass(frozen=True)
class Rows:
    """Class indices and one boolean mask per role for the rows of the features table."""

    classes: list[str]
    y: np.ndarray
    train: np.ndarray  # training originals and their augmented copies
    val: np.ndarray
    test: np.ndarray


def rows_of(table: pd.DataFrame) -> Rows:
    classes = sorted(table["class"].unique())
    subset = table["subset"]
    return Rows(
        classes=classes,
        y=table["class"].map({c: i for i, c in enumerate(classes)}).to_numpy(),
        train=subset.isin(TRAIN_SUBSETS).to_numpy(),
        val=(subset == "val").to_numpy(),
        test=(subset == "test").to_numpy(),
    )


def fit(model: keras.Model, x, y, x_val, y_val, live_dir: str, epochs: int, batch_size: int, callbacks: list):
    """model.fit with curves logged by dvclive (Live(dvcyaml=False): plots are declared in dvc.yaml)."""
    with Live(live_dir, dvcyaml=False, save_dvc_exp=False) as live:
        history = model.fit(
            x,
            y,
            validation_data=(x_val, y_val),
            epochs=epochs,
            batch_size=batch_size,
            callbacks=[*callbacks, DVCLiveCallback(live=live)],
            verbose=2,
            shuffle=True,
        )
    return history


def early_stopping(patience: int, min_delta: float = 0.0) -> keras.callbacks.EarlyStopping:
    return keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, min_delta=min_delta, restore_best_weights=True)
