"""MobileNetV2 in Keras with torchvision's layout, so torchvision's ImageNet weights load exactly.

Differences from keras.applications.MobileNetV2 that matter for these weights: every 3x3 conv is
preceded by symmetric padding of 1 (Keras pads stride-2 convs asymmetrically) and BatchNorm uses
epsilon 1e-5. Layer names follow the state dict ('features.2.conv.1.0'), so loading is by name.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from steel_defect.errors import UserError

# expansion t, output channels c, repeats n, first stride s (torchvision's inverted_residual_setting)
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
# ImageNet statistics torchvision normalises with, on a 0..1 scale
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _conv_bn(x, filters: int | None, kernel: int, stride: int, name: str, relu: bool = True):
    """Conv (depthwise when filters is None) + BatchNorm (+ ReLU6), named like torchvision's ConvBNReLU."""
    if kernel == 3:
        x = layers.ZeroPadding2D(1, name=f"{name}.pad")(x)
    if filters is None:
        x = layers.DepthwiseConv2D(kernel, stride, use_bias=False, name=f"{name}.0")(x)
    else:
        x = layers.Conv2D(filters, kernel, stride, use_bias=False, name=f"{name}.0")(x)
    x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}.1")(x)
    return layers.ReLU(6.0, name=f"{name}.2")(x) if relu else x


def _inverted_residual(x, in_ch: int, out_ch: int, stride: int, expand: int, name: str):
    y, i = x, 0
    if expand != 1:
        y = _conv_bn(y, in_ch * expand, 1, 1, f"{name}.conv.{i}")
        i += 1
    y = _conv_bn(y, None, 3, stride, f"{name}.conv.{i}")
    y = layers.Conv2D(out_ch, 1, use_bias=False, name=f"{name}.conv.{i + 1}")(y)
    y = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}.conv.{i + 2}")(y)
    return layers.Add(name=f"{name}.add")([x, y]) if stride == 1 and in_ch == out_ch else y


def mobilenet_v2(x, include_top: bool = False, classes: int = 1000):
    """Apply torchvision's MobileNetV2 to a tensor of normalised RGB images; returns the output tensor."""
    x = _conv_bn(x, 32, 3, 2, "features.0")
    in_ch, block = 32, 1
    for t, c, n, s in SETTINGS:
        for r in range(n):
            x = _inverted_residual(x, in_ch, c, s if r == 0 else 1, t, f"features.{block}")
            in_ch, block = c, block + 1
    x = _conv_bn(x, 1280, 1, 1, f"features.{block}")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="pool")(x)
        x = layers.Dropout(0.2, name="classifier.0")(x)
        x = layers.Dense(classes, name="classifier.1")(x)
    return x


def preprocess(x):
    """torchvision's input normalisation, (x/255 - mean)/std, for 0..255 RGB input."""
    return layers.Normalization(
        mean=[255 * m for m in MEAN], variance=[(255 * s) ** 2 for s in STD], name="imagenet_normalization"
    )(x)


def load_torch_state(model: keras.Model, state: dict[str, np.ndarray], source: str) -> None:
    """Copy a torchvision state dict into the layers of the same names; any mismatch is a UserError."""
    used = set()
    for layer in model.layers:
        key = layer.name
        if isinstance(layer, layers.DepthwiseConv2D):
            values = [_take(state, f"{key}.weight", used).transpose(2, 3, 0, 1)]
        elif isinstance(layer, layers.Conv2D):
            values = [_take(state, f"{key}.weight", used).transpose(2, 3, 1, 0)]
        elif isinstance(layer, layers.BatchNormalization):
            values = [_take(state, f"{key}.{p}", used) for p in ("weight", "bias", "running_mean", "running_var")]
        elif isinstance(layer, layers.Dense):
            values = [_take(state, f"{key}.weight", used).T, _take(state, f"{key}.bias", used)]
        else:
            continue
        if [w.shape for w in layer.get_weights()] != [v.shape for v in values]:
            raise UserError(
                f"{source}: weights for layer {key} have shapes {[v.shape for v in values]}; "
                "the file is not torchvision MobileNetV2 (1.0x)"
            )
        layer.set_weights(values)
    has_top = any(layer.name == "classifier.1" for layer in model.layers)
    unused = sorted(
        k
        for k in state
        if k not in used and not k.endswith("num_batches_tracked") and (has_top or not k.startswith("classifier."))
    )
    if unused:
        raise UserError(
            f"{source}: {len(unused)} parameters have no matching layer (first: {unused[0]}); "
            "the file is not torchvision MobileNetV2 (1.0x)"
        )


def _take(state: dict[str, np.ndarray], key: str, used: set) -> np.ndarray:
    if key not in state:
        raise UserError(f"weights file has no parameter '{key}'; it is not torchvision MobileNetV2 (1.0x)")
    used.add(key)
    return state[key]
