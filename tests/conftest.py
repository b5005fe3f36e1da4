"""A tiny synthetic class-per-folder dataset and a project folder to run stages in."""

from __future__ import annotations

import hashlib
import shutil
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import yaml
from PIL import Image

import stages  # noqa: F401  (sets TF_CPP_MIN_LOG_LEVEL before anything imports TensorFlow)
from steel_defect import mobilenet_v2

if TYPE_CHECKING:
    import keras

CLASSES = {"crazing": "Cr", "patches": "Pa", "scratches": "Sc"}
PER_CLASS = 20
# MobileNetV2 with its block table cut to five blocks (stem, the 16, two 24s, two 32s; then the 1x1 conv to 1,280):
# the same builder, cut, fine-tuning, saving and conversion code, at a sixth of the layers, which is what a
# tiny test pays for (building, loading, tracing and converting a model cost per layer, not per pixel).
# Tests of torchvision's weights mark themselves `full_mobilenet`.
TINY_MOBILENET = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2)]
TINY_MOBILENET_SOURCE = "SETTINGS = " + repr(TINY_MOBILENET)
SIZE = 32
FORMATS = ["bmp", "png", "jpg"]


def make_image(cls_index: int, number: int) -> Image.Image:
    """Class-specific texture so tiny models can tell the classes apart."""
    rng = np.random.default_rng(cls_index * 1000 + number)
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    pattern = [np.sin(x / 2.0), np.sin(y / 2.0), np.sin((x + y) / 3.0)][cls_index % 3]
    pixels = 128 + 60 * pattern + rng.normal(0, 15, (SIZE, SIZE))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")


def write_dataset(root: Path, per_class: int = PER_CLASS, checksums: bool = True) -> Path:
    """Write BMP/PNG/JPEG images named like NEU's, one byte-identical pair in 'patches', and SHA256SUMS."""
    for c, (cls, prefix) in enumerate(CLASSES.items()):
        (root / cls).mkdir(parents=True)
        for n in range(1, per_class + 1):
            make_image(c, n).save(root / cls / f"{prefix}_{n}.{FORMATS[n % 3]}")
    pair = root / "patches" / f"Pa_5.{FORMATS[5 % 3]}"
    (root / "patches" / f"Pa_9.{FORMATS[5 % 3]}").write_bytes(pair.read_bytes())
    (root / "patches" / f"Pa_9.{FORMATS[9 % 3]}").unlink()
    if checksums:
        write_checksums(root)
    return root


def write_checksums(root: Path) -> None:
    lines = []
    for f in sorted(p for p in root.rglob("*") if p.is_file() and p.parent != root):
        lines.append(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.relative_to(root).as_posix()}")
    (root / "SHA256SUMS").write_text("\n".join(lines) + "\n")


# A user's own photos: names with spaces and accents, mixed formats and sizes, colour, unequal classes.
# class name -> (images, file format, colour cast)
USER_CLASSES = {
    "rolled-in scale (laminé)": (12, "tif", (1.2, 0.9, 0.7)),
    "scratch": (20, "jpeg", (0.8, 0.9, 1.2)),
    "a very long class name for pitted surface defects": (9, "png", (1.0, 1.1, 0.8)),
}
USER_ODD = "scratch/img 3.jpeg"  # the one odd-sized photo


def write_user_dataset(root: Path) -> Path:
    """USER_CLASSES as class folders of colour photos, one of them 30x34 among 32x32."""
    for c, (name, (count, fmt, cast)) in enumerate(USER_CLASSES.items()):
        (root / name).mkdir(parents=True)
        for n in range(count):
            rng = np.random.default_rng(100 * c + n)
            y, x = np.mgrid[0:SIZE, 0:SIZE]
            pattern = [np.sin(x / 2.0), np.sin(y / 2.0), np.sin((x + y) / 3.0)][c]
            gray = 128 + 60 * pattern + rng.normal(0, 15, (SIZE, SIZE))
            image = Image.fromarray(np.clip(gray[..., None] * np.asarray(cast), 0, 255).astype(np.uint8), "RGB")
            if f"{name}/img {n}.{fmt}" == USER_ODD:
                image = image.resize((30, 34))
            image.save(root / name / f"img {n}.{fmt}")
    return root


def use_user_dataset(folder: Path, source: str = "mill photos") -> None:
    """Point the project's params at a user dataset written to `folder / source` (no size check, bigger held-out parts)."""
    write_user_dataset(folder / source)
    set_param(folder, "data.source", source)
    set_param(folder, "data.expected_size", None)
    set_param(folder, "split.test_fraction", 0.25)
    set_param(folder, "split.val_fraction", 0.25)


PARAMS = {
    "data": {"source": "source", "expected_size": [SIZE, SIZE], "odd_size": "resize", "color": "auto"},
    "split": {"strategy": "stratified", "group_size": 5, "test_fraction": 0.2, "val_fraction": 0.15, "seed": 0},
    "augment": {
        "copies": 2,
        "rotations": [0, 45, 90, 180],
        "horizontal_flip": True,
        "shear": 0.2,
        "zoom": 0.2,
        "brightness": 0.1,
        "contrast": 0.1,
        "gain": 0.1,
        "noise": 5.0,
        "specks": 0.005,
        "blur": 0.5,
        "jpeg": 50,  # the lowest quality a copy draws, end to end
        "probability": 0.5,  # the per-change draws, end to end
        "seed": 0,
    },
}

# Model params small enough for one-epoch tests: tiny images, random weights, a few units.
TINY = {
    "model": {"backbone": "mobilenet_v2", "weights": None, "image_size": 32, "normalize": "per_image", "seed": 0},
    "features": {"batch_size": 16},
    "train": {
        "seed": 0,
        "epochs": 1,
        "batch_size": 16,
        "learning_rate": 0.001,
        "units": 8,
        "dropout": 0.3,
        "patience": 2,
        "min_delta": 0.005,
        "plateau_factor": 0.25,
        "plateau_patience": 3,
        "min_lr": 1e-8,
        "class_weight": "balanced",
    },
    "baseline": {"C": 1.0, "max_iter": 200},
    "optimizer": "adamax",
    "select": {"candidates": ["fine_tuned", "head", "baseline"], "significance": 0.05, "validation": "clean"},
    "compare": {"datasets": ["NEU-CLS", "NEU"]},
    "curve": {
        "grid": "quick",
        "quick": {"per_class": [1, 2], "repeats": 2, "finetune_at": [1], "pseudo_head_at": [2], "pseudo_finetune_at": [2]},
        "full": {"per_class": [1, "all"], "repeats": 1, "finetune_at": [], "pseudo_head_at": [], "pseudo_finetune_at": []},
        "semi_supervised": True,
        "self_training_rounds": 2,
        "head_epochs": 1,
        "finetune_epochs": 1,
        "pseudo_head_epochs": 1,
        "pseudo_finetune_epochs": 1,
        "goals": {1: 0.9, 2: 0.99},
        "seed": 0,
    },
    "evaluate": {"min_confidence": [0.5, 0.9]},
    # every kind, and a loose int8 limit: a random tiny model may lose more than a trained one; int8 calibrated
    # on augmented copies (not the default), so that path runs through the stage too
    "export": {
        "kinds": ["float32", "float16", "dynamic_range", "int8"],
        "representative_images": 20,
        "calibration": "augmented",
        "max_int8_drop": 100,
        "threads": 1,
    },
    "benchmark": {"runs": 5, "warmup": 1, "batch_size": 4, "threads": 1},
    # every perturbation, one or two strengths each (the second beyond the moderate bound)
    "robustness": {
        "seed": 0,
        "models": ["keras", "float16"],
        "batch_size": 5,  # the last batch of the 12 test images is short
        "perturbations": {
            "gaussian_noise": [10, 20],
            "salt_pepper": [0.01],
            "brightness": [-0.2],
            "gain": [1.2],
            "contrast": [0.7],
            "gaussian_blur": [1],
            "motion_blur": [5],
            "illumination": [0.2],
            "jpeg_quality": [30],
            "rotation": [15, 30],
            "flip": [1],
            "row_jitter": [1],
        },
        "held_out": ["row_jitter"],  # summarised apart, and never in the copies
        "moderate": {
            "gaussian_noise": 10,
            "salt_pepper": 0.01,
            "brightness": 0.2,
            "gain": 0.2,
            "contrast": 0.3,
            "gaussian_blur": 1,
            "motion_blur": 5,
            "illumination": 0.2,
            "jpeg_quality": 70,
            "rotation": 15,
            "flip": 2,
            "row_jitter": 1,
        },
    },
    "finetune": {
        "unfreeze_from": {"mobilenet_v2": "features.4", "nasnet_mobile": "normal_conv_1_12"},
        "epochs": 1,
        "batch_size": 16,
        "learning_rate": 0.0001,
        "lr_decay": 0.9,
        "patience": 2,
        "min_delta": 0.0,
        "validation": "clean",
        "validation_perturbations": {"salt_pepper": [0.01], "motion_blur": [5], "brightness": [-0.2, 0.2]},
    },
}


# The order in which pytest-xdist hands files out (make test: --dist loadfile --no-loadscope-reorder), longest
# first so that the short files fill both workers at the end. Each worker starts with two files: the first worker
# gets test_dvc_repro.py (which builds the tiny dvc project, over a minute) and a file that takes no time, to wait
# behind it; the second gets the next two longest. Files not named keep their order.
ORDER = [
    "test_dvc_repro.py",
    "test_training.py",
    "test_machine.py",
    "test_learning_curve.py",
    "test_deploy.py",
    "test_weights.py",
    "test_dvc_rerun.py",  # by now the first worker has built the project it reads
    "test_report.py",
    "test_robustness.py",
    "test_augment.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: ORDER.index(item.path.name) if item.path.name in ORDER else len(ORDER))  # stable


def tiny_nasnet(**kwargs) -> keras.Model:
    """NASNet-Mobile's own builder and cells, one normal cell per stage instead of four (7 cells of 16)."""
    from keras.src.applications import nasnet  # NASNet(num_blocks=...), which keras.applications does not export

    return nasnet.NASNet(
        (224, 224, 3),
        1056,
        num_blocks=1,
        stem_block_filters=32,
        skip_reduction=False,
        filter_multiplier=2,
        default_size=224,
        **kwargs,
    )


@pytest.fixture(autouse=True)
def tiny_mobilenet(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if not request.node.get_closest_marker("full_mobilenet"):
        monkeypatch.setattr(mobilenet_v2, "SETTINGS", TINY_MOBILENET)


def use_tiny_mobilenet(package: Path) -> None:
    """Cut the block table of a copied steel_defect/ package, for stages that DVC runs in their own processes."""
    source = package / "mobilenet_v2.py"
    lines = source.read_text().splitlines(keepends=True)
    (line,) = [i for i, text in enumerate(lines) if text.startswith("SETTINGS = ")]
    lines[line] = TINY_MOBILENET_SOURCE + "\n"
    source.write_text("".join(lines))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with params.yaml and a synthetic dataset at ./source, as the working directory."""
    write_dataset(tmp_path / "source")
    write_params(tmp_path, PARAMS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """tests/dvc_project.py's project after one real `dvc repro` (over a minute), built once per test run: the first
    worker to ask builds it under a file lock, the other waits for it. Tests read it or work on a copy."""
    from filelock import FileLock

    from tests.dvc_project import build

    root = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # a pytest-xdist worker
        root = root.parent  # this run's folder, which every worker's base folder is in
    project, done = root / "dvc-project", root / "dvc-project.done"
    with FileLock(root / "dvc-project.lock"):
        if not done.exists():
            shutil.rmtree(project, ignore_errors=True)  # what a worker's failed build left
            build(project)
            done.touch()
    return project


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny_pipeline's project, trained and exported once per test worker; `trained_project` gives each test a copy."""
    folder = tmp_path_factory.mktemp("trained")
    write_dataset(folder / "source")
    write_params(folder, PARAMS)
    with pytest.MonkeyPatch.context() as patch:  # a session fixture comes before the function-scoped tiny_mobilenet
        patch.setattr(mobilenet_v2, "SETTINGS", TINY_MOBILENET)
        patch.chdir(folder)
        tiny_pipeline(folder)
    return folder


@pytest.fixture
def trained_project(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the trained tiny project (every stage through export, every export kind) as the working directory."""
    project = tmp_path / "trained"
    shutil.copytree(trained, project)
    monkeypatch.chdir(project)
    return project


def tiny_pipeline(project: Path) -> None:
    """The pipeline from fetch through export on the tiny dataset with tiny model params."""
    from stages import augment, export, features, fetch, fine_tune, select, split, train_head, weights

    for key, value in TINY.items():
        set_param(project, key, value)
    for stage in (fetch, split, augment, weights, features, train_head, fine_tune, select, export):
        stage.main()


def write_params(folder: Path, params: dict) -> None:
    (folder / "params.yaml").write_text(yaml.safe_dump(params))


def set_param(folder: Path, key: str, value) -> None:
    params = yaml.safe_load((folder / "params.yaml").read_text())
    node = params
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    write_params(folder, params)


def tree_digest(root: Path) -> str:
    """One hash over every file's path and bytes, to prove a folder was not modified."""
    digest = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f.relative_to(root).as_posix().encode() + f.read_bytes())
    return digest.hexdigest()


def bomb_png_bytes(width: int = 30000, height: int = 30000, depth: int = 1, colour_type: int = 0) -> bytes:
    """A valid PNG header claiming 900 megapixels: what a decompression bomb looks like to a decoder.

    With another depth and colour type, a PNG of a pixel mode no decoder supports (4-bit RGB).
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
