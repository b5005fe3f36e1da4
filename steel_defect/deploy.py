"""The deployed model's metadata, and one way to run any model we ship: Keras (.keras) or LiteRT (.tflite).

predict, export, evaluate and benchmark all go through `load_runner`, so they read the classes,
the input size and the colour mode from the metadata saved beside the model (never from
params.yaml or the data folders): a model trained on 3 classes predicts those 3 names anywhere.
Keras and TensorFlow are imported only for a .keras model; a .tflite model needs LiteRT alone.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from steel_defect.errors import UserError

FORMATS = (".keras", ".tflite")


def git_commit(folder: str | Path = ".") -> str | None:
    """The commit checked out where the model was trained (uncommitted edits are not in it), or None outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def params_sha256(path: str | Path = "params.yaml") -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def metadata_path(model: str | Path) -> Path:
    """Where a model's metadata lives: '<name>.json' beside it, else the folder's model.json."""
    model = Path(model)
    own = model.with_suffix(".json")
    return own if own.exists() else model.parent / "model.json"


def read_metadata(model: str | Path) -> dict:
    path = metadata_path(model)
    if not path.exists():
        raise UserError(f"{model}: no metadata beside it ({path} missing); use a model written by select or export")
    data = json.loads(path.read_text())
    missing = [k for k in ("classes", "channels", "input_size") if k not in data]
    if missing:
        raise UserError(f"{path}: metadata lacks {', '.join(missing)}; re-run `dvc repro select export` to rewrite it")
    return data


@dataclass
class Runner:
    """A loaded model: `predict(images)` takes (n, height, width, channels) float32 pixels 0..255 and returns probabilities.

    It feeds the model `batch_size` images per call, so callers pass any number of images.
    """

    path: Path
    metadata: dict
    _predict: object
    batch_size: int = 32

    @property
    def classes(self) -> list[str]:
        return list(self.metadata["classes"])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) the images are loaded at, as in training."""
        width, height = self.metadata["input_size"]
        return int(width), int(height)

    @property
    def channels(self) -> int:
        return int(self.metadata["channels"])

    def predict(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32)
        if not len(x):
            return np.zeros((0, len(self.classes)), np.float32)
        step = self.batch_size
        return np.concatenate([np.asarray(self._predict(x[i : i + step]), dtype=np.float32) for i in range(0, len(x), step)])


def load_runner(model: str | Path, threads: int | None = None, batch_size: int = 32) -> Runner:
    """The model at `model` (.keras or .tflite) with its metadata; `threads` sets LiteRT's CPU threads.

    Keras runs through `predict_on_batch`: `predict` builds an input pipeline on every call, which
    measured 2.4x slower here at 16 images a call (and far slower at one).
    """
    model = Path(model)
    if not model.exists():
        raise UserError(f"{model}: model file not found; run `dvc repro` or pass --model")
    if model.suffix not in FORMATS:
        raise UserError(f"{model}: unknown model format '{model.suffix}'; expected one of {', '.join(FORMATS)}")
    metadata = read_metadata(model)
    if model.suffix == ".keras":
        import keras

        try:
            loaded = keras.models.load_model(model)
        except (ValueError, OSError, KeyError, TypeError) as err:  # not a zip, or a zip Keras cannot rebuild
            raise UserError(f"{model}: not a Keras model ({str(err).splitlines()[0]})") from None
        return Runner(model, metadata, loaded.predict_on_batch, batch_size)
    return Runner(model, metadata, LiteRT(model, threads), batch_size)


class LiteRT:
    """A .tflite model through LiteRT's interpreter; the batch dimension is resized to each call's batch."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        except ValueError as err:
            raise UserError(f"{path}: not a LiteRT model ({err})") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.batch = 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if len(images) != self.batch:
            self.interpreter.resize_tensor_input(self.input["index"], [len(images), *self.input["shape"][1:]])
            self.interpreter.allocate_tensors()
            self.batch = len(images)
        self.interpreter.set_tensor(self.input["index"], quantize(images, self.input))
        self.interpreter.invoke()
        probs = np.maximum(dequantize(self.interpreter.get_tensor(self.output["index"]), self.output), 0.0)
        # float16 and int8 softmax outputs sum to 1 only within their precision; rescale so they are probabilities
        return probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float input -> the tensor's type (an integer input carries a scale and zero point)."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
    if np.issubdtype(detail["dtype"], np.floating):
        return q.astype(np.float32)
    scale, zero = detail["quantization"]
    return (q.astype(np.float32) - zero) * scale
