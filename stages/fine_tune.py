"""Stage fine_tune: unfreeze the top of the backbone and train it with the head on cached cut activations.

Frozen layers never change, so their output (the 'cut') was computed once by the features stage; only
the layers from finetune.unfreeze_from onwards run here, with BatchNorm kept in inference mode.
"""

import math
from pathlib import Path

import keras

from steel_defect.atomic import atomic_file
from steel_defect.errors import run_stage
from steel_defect.features import load_features
from steel_defect.model import (
    OPTIMIZERS,
    assemble,
    cut_tensors,
    make_optimizer,
    trainable_part,
    unfreeze_index,
    unfreeze_setting,
)
from steel_defect.params import choice, integer, load_params, number
from steel_defect.training import early_stopping, fit, rows_of

OUT = Path("models/model.keras")


def main() -> None:
    params = load_params()
    keras.utils.set_random_seed(integer(params, "train.seed", minimum=0))
    backbone = keras.models.load_model("models/backbone/backbone.keras")
    classifier = assemble(backbone, keras.models.load_model("models/head.keras"))
    part = trainable_part(classifier, cut_tensors(backbone, unfreeze_index(backbone, unfreeze_setting(params))))
    table, arrays = load_features("data/features.npz")
    rows = rows_of(table)
    y, train, val = rows.y, rows.train, rows.val
    cuts = [arrays[f"cut_{i}"] for i in range(len(part.inputs))]
    x_train, x_val = [c[train] for c in cuts], [c[val] for c in cuts]
    if len(cuts) == 1:  # a single-input model wants the array itself
        x_train, x_val = x_train[0], x_val[0]
    batch_size = integer(params, "finetune.batch_size", minimum=1)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        number(params, "finetune.learning_rate", 0, 1, open_low=True),
        decay_steps=math.ceil(train.sum() / batch_size),  # decay_rate applies once per epoch
        decay_rate=number(params, "finetune.lr_decay", 0, 1, open_low=True),
    )
    part.compile(
        make_optimizer(choice(params, "optimizer", OPTIMIZERS), schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    trainable = sum(w.numpy().size for w in part.trainable_weights)
    print(f"fine_tune: {len(part.layers)} layers after the cut, {trainable:,} trainable weights, {train.sum()} rows")
    fit(
        part,
        x_train,
        y[train],
        x_val,
        y[val],
        "metrics/fine_tune",
        epochs=integer(params, "finetune.epochs", minimum=1),
        batch_size=batch_size,
        callbacks=[early_stopping(integer(params, "finetune.patience", minimum=1))],
    )
    with atomic_file(OUT) as tmp:
        classifier.save(tmp)
    print(f"fine_tune: saved {OUT} ({classifier.count_params():,} parameters)")


if __name__ == "__main__":
    run_stage(main)
