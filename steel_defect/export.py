"""Convert the deployed Keras model to LiteRT flatbuffers: float32, float16 weights, and full-integer int8.

The Keras model takes any image size; a .tflite model needs a fixed one, so the exported input is
(batch, height, width, channels) at the size training loaded images at (metadata `input_size`),
with the batch left free. Inputs and outputs stay float32 (pixels 0..255 in, probabilities out)
in all three, so predict treats them alike; int8 quantises every op inside, calibrated on a
representative set drawn from the training subset only.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

KINDS = ("float32", "float16", "int8")


def convert(model, size: tuple[int, int], channels: int, kind: str, representative: np.ndarray | None = None) -> bytes:
    """`model` (a Keras model) as a .tflite flatbuffer of `kind`; int8 needs `representative` images (n, h, w, c)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    width, height = size
    spec = tf.TensorSpec([None, height, width, channels], tf.float32, name="image")

    def call(x):
        return model(x, training=False)

    # Freeze the weights into constants ourselves: left to the converter, a loaded model's variables
    # stayed as READ_VARIABLE ops (measured on the deployed baseline), which int8 calibration cannot run.
    function = convert_variables_to_constants_v2(tf.function(call, input_signature=[spec]).get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
    if kind == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "int8":
        if representative is None or not len(representative):
            raise ValueError("int8 needs representative images")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: _one_by_one(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif kind != "float32":
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    return converter.convert()


def _one_by_one(images: np.ndarray) -> Iterator[list[np.ndarray]]:
    for i in range(len(images)):
        yield [images[i : i + 1].astype(np.float32)]
