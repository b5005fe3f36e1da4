"""Keras training glue shared by the two training stages: callbacks and data selection."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
from dvclive import Live
from dvclive.keras import DVCLiveCallback

TRAIN_SUBSETS = ("train", "augmented")


def labels_of(table: pd.DataFrame, classes: list[str]) -> np.ndarray:
    return table["class"].map({c: i for i, c in enumerate(classes)}).to_numpy()


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
