"""Stage train_head: train the paper's head on cached frozen-backbone features (Adam, plateau LR, early stopping)."""

from pathlib import Path

import keras

from steel_defect.atomic import atomic_file
from steel_defect.errors import run_stage
from steel_defect.features import load_features
from steel_defect.model import build_head
from steel_defect.params import fraction, integer, load_params, number
from steel_defect.training import early_stopping, fit, rows_of

OUT = Path("models/head.keras")


def main() -> None:
    params = load_params()
    keras.utils.set_random_seed(integer(params, "train.seed", minimum=0))
    table, arrays = load_features("data/features.npz")
    rows, pooled = rows_of(table), arrays["pooled"]
    classes, y, train, val = rows.classes, rows.y, rows.train, rows.val
    head = build_head(pooled.shape[1], len(classes), integer(params, "train.units", minimum=1), fraction(params, "train.dropout"))
    head.compile(
        keras.optimizers.Adam(number(params, "train.learning_rate", 0, 1, open_low=True)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    print(f"train_head: {train.sum()} training rows (originals + augmented), {val.sum()} validation images")
    fit(
        head,
        pooled[train],
        y[train],
        pooled[val],
        y[val],
        "metrics/train_head",
        epochs=integer(params, "train.epochs", minimum=1),
        batch_size=integer(params, "train.batch_size", minimum=1),
        callbacks=[
            keras.callbacks.ReduceLROnPlateau(factor=0.25, patience=3, min_lr=1e-8),
            early_stopping(integer(params, "train.patience", minimum=1), min_delta=0.005),
        ],
    )
    with atomic_file(OUT) as tmp:
        head.save(tmp)
    print(f"train_head: saved {OUT}")


if __name__ == "__main__":
    run_stage(main)
