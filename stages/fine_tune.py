"""Stage fine_tune: unfreeze the top of the backbone and train it with the head on cached cut activations.

Frozen layers never change, so their output (the 'cut', chosen by the features stage and named in
its cache) was computed once; only the layers after it run here, with BatchNorm kept in inference
mode. Early stopping watches the loss on every validation row of the cache: the originals, and with
finetune.validation: perturbed also their perturbed copies (on clean validation images the loss is
near 0.001 after a few epochs, so it tells little about which epoch reads the line's images best).
Writes models/fine_tuned.keras (image in, probabilities out), one candidate for select.
"""

import math
from pathlib import Path

import keras

from steel_defect.atomic import save_model
from steel_defect.dataset import read_spec
from steel_defect.errors import run_stage
from steel_defect.features import PERTURBED, load_features
from steel_defect.model import OPTIMIZERS, assemble, compile_fine_tuning, tensors_named, trainable_part
from steel_defect.params import choice, integer, load_params, number
from steel_defect.training import CLASS_WEIGHTS, class_weights, early_stopping, fit, rows_of, seed_everything

OUT = Path("models/fine_tuned.keras")


def main() -> None:
    params = load_params()
    seed_everything(integer(params, "train.seed", minimum=0))
    table, arrays = load_features("data/features.npz")
    classifier = assemble(keras.models.load_model("models/backbone/backbone.keras"), keras.models.load_model("models/head.keras"))
    names = [str(n) for n in arrays["cut_names"]]
    part = trainable_part(classifier, tensors_named(classifier, names))
    rows = rows_of(table, read_spec())
    perturbed = (table["subset"] == PERTURBED).to_numpy()  # present when the cache was made with finetune.validation: perturbed
    y, train, val = rows.y, rows.train, rows.val | perturbed
    cuts = [arrays[f"cut_{i}"] for i in range(len(names))]
    x_train, x_val = [c[train] for c in cuts], [c[val] for c in cuts]
    if len(cuts) == 1:  # a single-input model wants the array itself
        x_train, x_val = x_train[0], x_val[0]
    batch_size = integer(params, "finetune.batch_size", minimum=1)
    compile_fine_tuning(
        part,
        choice(params, "optimizer", OPTIMIZERS),
        number(params, "finetune.learning_rate", 0, 1, open_low=True),
        number(params, "finetune.lr_decay", 0, 1, open_low=True),
        steps_per_epoch=math.ceil(train.sum() / batch_size),
    )
    trainable = sum(w.numpy().size for w in part.trainable_weights)
    print(f"fine_tune: {len(part.layers)} layers after the cut ({', '.join(names)}), {trainable:,} trainable weights")
    copies = ""
    if perturbed.any():
        copies = f" and {perturbed.sum()} perturbed copies ({table.loc[perturbed, 'perturbation'].nunique()} settings)"
    print(f"fine_tune: {train.sum()} training rows (originals + augmented), {rows.val.sum()} validation images{copies}")
    fit(
        part,
        x_train,
        y[train],
        x_val,
        y[val],
        "metrics/fine_tune",
        epochs=integer(params, "finetune.epochs", minimum=1),
        batch_size=batch_size,
        callbacks=[
            early_stopping(integer(params, "finetune.patience", minimum=1), number(params, "finetune.min_delta", 0, 1)),
        ],
        class_weight=class_weights(y[train], len(rows.classes), choice(params, "train.class_weight", CLASS_WEIGHTS)),
    )
    save_model(classifier, OUT)
    print(f"fine_tune: saved {OUT} ({classifier.count_params():,} parameters)")


if __name__ == "__main__":
    run_stage(main)
