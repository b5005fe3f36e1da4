"""Convert the deployed Keras model to LiteRT flatbuffers: float32, float16 weights, dynamic-range int8, full-integer int8.

The Keras model takes any image size; a .tflite model needs a fixed one, so the exported input is
(batch, height, width, channels) at the size training loaded images at (metadata `input_size`),
with the batch left free. Inputs and outputs stay float32 (pixels 0..255 in, probabilities out)
in all of them, so predict treats them alike; int8 quantises every op inside, calibrated on a
representative set drawn from the training subset only. Dynamic-range int8 stores int8 weights and
computes in float: 8-bit activations lose salt-and-pepper specked images that the float model reads
(seed 4: 48 errors against 7 of 360; with 16-bit activations, LiteRT's 16x8 mode, 6), so it is the
int8 file that keeps the model's robustness (docs/experiments.md).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np

DYNAMIC = "dynamic_range"  # int8 weights, float activations; no calibration
KINDS = ("float32", "float16", DYNAMIC, "int8")
INT16X8 = "int16x8"  # int8 weights, 16-bit activations: for the int8 analysis, not a kind export writes (slow kernels)


def converter(model, size: tuple[int, int], channels: int, kind: str, representative: np.ndarray | None = None):
    """A TFLiteConverter for `model` (a Keras model) set up for `kind`; int8 needs `representative` images (n, h, w, c)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    width, height = size
    spec = tf.TensorSpec([None, height, width, channels], tf.float32, name="image")

    def call(x):
        return model(x, training=False)

    # Freeze the weights into constants ourselves: left to the converter, a loaded model's variables
    # stayed as READ_VARIABLE ops (measured on the deployed baseline), which int8 calibration cannot run.
    function = convert_variables_to_constants_v2(tf.function(call, input_signature=[spec]).get_concrete_function())
    result = tf.lite.TFLiteConverter.from_concrete_functions([function])
    if kind == "float16":
        result.optimizations = [tf.lite.Optimize.DEFAULT]
        result.target_spec.supported_types = [tf.float16]
    elif kind == "int8":
        if representative is None or not len(representative):
            raise ValueError("int8 needs representative images")
        result.optimizations = [tf.lite.Optimize.DEFAULT]
        result.representative_dataset = lambda: one_by_one(representative)
        result.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif kind == INT16X8:  # LiteRT's 16x8 mode; ops it cannot quantise (the head's ELU) stay float
        if representative is None or not len(representative):
            raise ValueError("int16x8 needs representative images")
        result.optimizations = [tf.lite.Optimize.DEFAULT]
        result.representative_dataset = lambda: one_by_one(representative)
        ops = tf.lite.OpsSet
        result.target_spec.supported_ops = [ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, ops.TFLITE_BUILTINS]
    elif kind == DYNAMIC:
        result.optimizations = [tf.lite.Optimize.DEFAULT]
    elif kind != "float32":
        raise ValueError(f"unknown kind {kind!r}; expected one of {(*KINDS, INT16X8)}")
    return result


def convert(model, size: tuple[int, int], channels: int, kind: str, representative: np.ndarray | None = None) -> bytes:
    """`model` (a Keras model) as a .tflite flatbuffer of `kind`; int8 needs `representative` images (n, h, w, c)."""
    return converter(model, size, channels, kind, representative).convert()


def int8_layer_errors(model, size: tuple[int, int], channels: int, representative: np.ndarray, images: np.ndarray):
    """Per quantised tensor, worst first: how far int8 is from float on `images`, as RMSE in int8 steps.

    LiteRT's QuantizationDebugger compares each int8 op's output with the float op's on the same
    (dequantised) inputs, so a tensor's error is that op's own, not what earlier ops passed on.
    """
    import pandas as pd
    import tensorflow as tf

    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter(model, size, channels, "int8", representative), debug_dataset=lambda: one_by_one(images)
    )
    debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)  # one row per tensor: op_name, tensor_name, scale, mean_squared_error, ...
    dump.seek(0)
    table = pd.read_csv(dump)
    table["rmse_steps"] = np.sqrt(table["mean_squared_error"]) / table["scale"]
    columns = ["op_name", "tensor_name", "num_elements", "rmse_steps"]
    return table[columns].sort_values("rmse_steps", ascending=False, ignore_index=True)


def int8_keeping_float(model, size: tuple[int, int], channels: int, representative: np.ndarray, tensors: list[str]) -> bytes:
    """int8 with the ops producing `tensors` left in float (selective quantisation), as a .tflite flatbuffer."""
    import tensorflow as tf

    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter(model, size, channels, "int8", representative),
        debug_dataset=lambda: one_by_one(representative[:1]),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(tensors)),
    )
    return debugger.get_nondebug_quantized_model()


def one_by_one(images: np.ndarray) -> Iterator[list[np.ndarray]]:
    for i in range(len(images)):
        yield [images[i : i + 1].astype(np.float32)]
