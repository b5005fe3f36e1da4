"""The classifier: a backbone, global average pooling and the paper's head; plus the pieces fine-tuning needs."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from steel_defect.errors import UserError

OPTIMIZERS = ["adamax", "adam", "sgd"]


def build_head(n_features: int, n_classes: int, units: int, dropout: float) -> keras.Model:
    """The paper's head on pooled features: dropout 0.2, dense ELU, dropout, softmax."""
    features = keras.Input((n_features,), name="pooled_features")
    x = layers.Dropout(0.2, name="head_dropout_in")(features)
    x = layers.Dense(units, activation="elu", name="head_dense")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="head_softmax")(x)
    return keras.Model(features, outputs, name="head")


def compiled_head(n_features: int, n_classes: int, units: int, dropout: float, learning_rate: float) -> keras.Model:
    """The head, compiled as train_head trains it (Adam, sparse cross-entropy, accuracy).

    32 steps run per call into TensorFlow: the head is small enough that Python's per-step overhead
    was a third of its fitting time (the learning curve fits it 20 times), and the weights come out
    the same bit for bit.
    """
    head = build_head(n_features, n_classes, units, dropout)
    head.compile(
        keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"], steps_per_execution=32
    )
    return head


def build_linear_head(coef: np.ndarray, intercept: np.ndarray) -> keras.Model:
    """A fitted multinomial logistic regression as a Keras softmax layer, so the baseline can be deployed too.

    scikit-learn's predict_proba is softmax(x @ coef.T + intercept); with two classes it keeps one row
    (sigmoid of z), which equals softmax over (-z/2, z/2).
    """
    if coef.shape[0] == 1:
        coef, intercept = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    features = keras.Input((coef.shape[1],), name="pooled_features")
    dense = layers.Dense(coef.shape[0], activation="softmax", name="baseline_softmax")
    model = keras.Model(features, dense(features), name="baseline")
    dense.set_weights([coef.T.astype("float32"), intercept.astype("float32")])
    return model


def pooled_backbone(backbone: keras.Model) -> keras.KerasTensor:
    return layers.GlobalAveragePooling2D(name="pool")(backbone.output)


def assemble(backbone: keras.Model, head: keras.Model) -> keras.Model:
    """Image in, class probabilities out: what gets deployed and evaluated."""
    return keras.Model(backbone.input, head(pooled_backbone(backbone)), name=f"{backbone.name}_classifier")


def unfreeze_index(backbone: keras.Model, unfreeze_from: int | str) -> int:
    """Index of the first trainable backbone layer: 'all', an index, a layer name, or a block prefix ('features.14')."""
    names = [layer.name for layer in backbone.layers]
    if unfreeze_from == "all":
        return 1  # everything after the input layer
    if isinstance(unfreeze_from, int) and not isinstance(unfreeze_from, bool):
        if not 1 <= unfreeze_from < len(names):
            raise UserError(
                f"params.yaml: 'finetune.unfreeze_from' is {unfreeze_from}; the backbone has layers 1..{len(names) - 1}"
            )
        return unfreeze_from
    for i, name in enumerate(names):
        if name == unfreeze_from or name.startswith(f"{unfreeze_from}."):
            return i
    raise UserError(
        f"params.yaml: 'finetune.unfreeze_from' is {unfreeze_from!r}: no such layer in {backbone.name} "
        f"(use 'all', a layer index, or a name such as {names[len(names) // 2]!r})"
    )


def cut_tensors(backbone: keras.Model, index: int) -> list[keras.KerasTensor]:
    """Tensors made by frozen layers (before `index`) and read by trainable ones: the cache boundary."""
    frozen = {id(layer) for layer in backbone.layers[:index]}
    cut, seen = [], set()
    for layer in backbone.layers[index:]:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                producer = tensor._keras_history.operation
                if id(producer) in frozen and id(tensor) not in seen:
                    seen.add(id(tensor))
                    cut.append(tensor)
    return cut


def cut_names(cut: list[keras.KerasTensor]) -> list[str]:
    """'layer:node:index' for each cut tensor: recorded in the features cache, so fine_tune uses this very cut."""
    names = []
    for tensor in cut:
        operation, node_index, tensor_index = tensor._keras_history
        names.append(f"{operation.name}:{node_index}:{tensor_index}")
    return names


def tensors_named(model: keras.Model, names: list[str]) -> list[keras.KerasTensor]:
    """The tensors `cut_names` named, found in `model` (which must contain those layers)."""
    tensors = []
    for name in names:
        layer_name, node_index, tensor_index = name.rsplit(":", 2)
        try:
            node = model.get_layer(layer_name)._inbound_nodes[int(node_index)]
        except (ValueError, IndexError):
            raise UserError(
                f"the features cache names cut tensor {name!r}, not in {model.name}; run `dvc repro features`"
            ) from None
        tensors.append(node.output_tensors[int(tensor_index)])
    return tensors


def trainable_part(classifier: keras.Model, cut: list[keras.KerasTensor]) -> keras.Model:
    """The classifier from the cut onwards; it shares layers (and so weights) with `classifier`.

    BatchNorm layers stay frozen, which in Keras 3 also keeps them in inference mode.
    """
    part = keras.Model(cut if len(cut) > 1 else cut[0], classifier.output, name="trainable_part")
    for layer in part.layers:
        layer.trainable = not isinstance(layer, layers.BatchNormalization)
    return part


def compile_fine_tuning(part: keras.Model, optimizer: str, learning_rate: float, decay_rate: float, steps_per_epoch: int) -> None:
    """The paper's fine-tuning optimiser (Adamax by default) with the learning rate decayed by `decay_rate` once per epoch."""
    schedule = keras.optimizers.schedules.ExponentialDecay(learning_rate, decay_steps=steps_per_epoch, decay_rate=decay_rate)
    part.compile(make_optimizer(optimizer, schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def make_optimizer(name: str, learning_rate):
    if name not in OPTIMIZERS:
        raise UserError(f"params.yaml: 'optimizer' is {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    return {"adamax": keras.optimizers.Adamax, "adam": keras.optimizers.Adam}[name](learning_rate)
