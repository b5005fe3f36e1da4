"""Stage train_head: the paper's head on cached frozen-backbone features, and the logistic-regression baseline.

Both read only the cache: the head trains on the training originals and their augmented copies
(Adam, plateau LR, early stopping on the validation slice); the baseline on the originals alone.
Both are saved as Keras models on pooled features, so select can deploy either.
"""

from pathlib import Path

import keras

from steel_defect.atomic import save_model
from steel_defect.dataset import read_spec
from steel_defect.errors import run_stage
from steel_defect.features import load_features
from steel_defect.metrics import fit_baseline
from steel_defect.model import build_linear_head, compiled_head
from steel_defect.params import choice, fraction, integer, load_params, number
from steel_defect.training import CLASS_WEIGHTS, class_weights, early_stopping, fit, rows_of, seed_everything

HEAD, BASELINE = Path("models/head.keras"), Path("models/baseline.keras")


def main() -> None:
    params = load_params()
    seed_everything(integer(params, "train.seed", minimum=0))
    table, arrays = load_features("data/features.npz")
    rows, pooled = rows_of(table, read_spec()), arrays["pooled"]
    y, train, val = rows.y, rows.train, rows.val
    baseline = fit_baseline(
        pooled[rows.originals],
        y[rows.originals],
        number(params, "baseline.C", 0, None, open_low=True),
        integer(params, "baseline.max_iter", 1),
    )
    save_model(build_linear_head(baseline.coef_, baseline.intercept_), BASELINE)
    head = compiled_head(
        pooled.shape[1],
        len(rows.classes),
        integer(params, "train.units", minimum=1),
        fraction(params, "train.dropout"),
        number(params, "train.learning_rate", 0, 1, open_low=True),
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
            keras.callbacks.ReduceLROnPlateau(
                factor=number(params, "train.plateau_factor", 0, 1, open_low=True, open_high=True),
                patience=integer(params, "train.plateau_patience", minimum=1),
                min_lr=number(params, "train.min_lr", 0, 1),
            ),
            early_stopping(integer(params, "train.patience", minimum=1), number(params, "train.min_delta", 0, 1)),
        ],
        class_weight=class_weights(y[train], len(rows.classes), choice(params, "train.class_weight", CLASS_WEIGHTS)),
    )
    save_model(head, HEAD)
    print(f"train_head: saved {HEAD} and {BASELINE}")


if __name__ == "__main__":
    run_stage(main)
