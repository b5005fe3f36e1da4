"""A user's own dataset end to end: names with spaces and accents, mixed formats and sizes, colour, unequal classes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from stages import (
    augment,
    benchmark,
    compare,
    evaluate,
    export,
    features,
    fetch,
    fine_tune,
    learning_curve,
    robustness,
    select,
    split,
    train_head,
    weights,
)
from steel_defect import params as params_module
from tests.conftest import TINY, set_param
from tests.test_dvc_wiring import ROOT, check_params_read

# class name -> (images, file format, colour cast)
CLASSES = {
    "rolled-in scale (laminé)": (12, "tif", (1.2, 0.9, 0.7)),
    "scratch": (20, "jpeg", (0.8, 0.9, 1.2)),
    "a very long class name for pitted surface defects": (9, "png", (1.0, 1.1, 0.8)),
}


def write_user_dataset(root: Path) -> None:
    for c, (name, (count, fmt, cast)) in enumerate(CLASSES.items()):
        (root / name).mkdir(parents=True)
        for n in range(count):
            rng = np.random.default_rng(100 * c + n)
            y, x = np.mgrid[0:32, 0:32]
            gray = 128 + 60 * [np.sin(x / 2.0), np.sin(y / 2.0), np.sin((x + y) / 3.0)][c] + rng.normal(0, 15, (32, 32))
            rgb = np.clip(gray[..., None] * np.asarray(cast), 0, 255).astype(np.uint8)
            image = Image.fromarray(rgb, "RGB")
            if (c, n) == (1, 3):
                image = image.resize((30, 34))  # one odd-sized photo
            image.save(root / name / f"img {n}.{fmt}")


@pytest.fixture
def user_project(project: Path) -> Path:
    write_user_dataset(project / "mill photos")
    for key, value in TINY.items():
        set_param(project, key, value)
    set_param(project, "data.source", "mill photos")
    set_param(project, "data.expected_size", None)
    set_param(project, "split.test_fraction", 0.25)
    set_param(project, "split.val_fraction", 0.25)
    return project


def test_any_class_folder_dataset_runs_end_to_end_and_reads_only_declared_params(user_project: Path):
    (user_project / "data").mkdir(exist_ok=True)
    shutil.copyfile(ROOT / "data/literature.csv", user_project / "data/literature.csv")
    pipeline = (fetch, split, augment, weights, features, train_head, fine_tune, select, evaluate, export, benchmark, robustness)
    for stage in (*pipeline, learning_curve, compare):
        params_module.READ.clear()
        stage.main()
        check_params_read(stage.__name__.split(".")[-1], set(params_module.READ))

    spec = json.loads(Path("data/dataset.json").read_text())
    names = sorted(CLASSES)
    assert spec["classes"] == names and spec["channels"] == 3 and spec["size"] == [32, 32]
    assert spec["resized"] == ["scratch/img 3.jpeg"]
    deployed = json.loads(Path("models/deployed/model.json").read_text())
    assert deployed["classes"] == names and deployed["channels"] == 3
    model = keras.models.load_model("models/deployed/model.keras")
    assert model.input.shape[-1] == 3, "the saved model records colour input"
    odd = np.asarray(Image.open("mill photos/scratch/img 3.jpeg"), dtype="float32")[None]
    assert model.predict(odd, verbose=0).shape == (1, 3), "the model takes any image size"
    per_class = json.loads(Path("metrics/evaluate/per_class.json").read_text())
    assert set(names) <= set(per_class)
    assert json.loads(Path("metrics/data.json").read_text())["classes"] == {n: CLASSES[n][0] for n in names}
    table = Path("metrics/compare.md").read_text()
    assert "| measured (this project) | deployed (chosen on validation)" in table, "our run is in the table (n=1: no seeds run)"
    assert "few labels, best at N=1" in table, "the learning curve's rows join the compare table"
    assert "exported to LiteRT int8" in table, "the exported models' rows join it too"
    assert "| deployed, worst moderate perturbation (" in table, "and the worst-case robust accuracy"
    speed = json.loads(Path("metrics/benchmark.json").read_text())
    assert set(speed) == {"machine", "keras", "float32", "float16", "dynamic_range", "int8"}, "every exported kind is timed"
    assert all(speed[m]["ms_batch1_median"] > 0 and speed[m]["runs"] == 5 for m in ("keras", "int8"))
    assert "| reported: NASNet-Mobile fine-tuned (seed)" in Path("metrics/benchmark.md").read_text(), "the paper beside ours"
    robust = json.loads(Path("metrics/robustness.json").read_text())
    assert set(robust) == {"test_images", "seed", "deployed", "keras", "float16"}, "colour images go through every perturbation"
    for png in (
        "plots/confusion_matrix.png",
        "plots/roc.png",
        "plots/augmentation.png",
        "plots/compare.png",
        "plots/learning_curve.png",
        "plots/robustness.png",
        "plots/robustness_examples.png",
    ):
        assert Path(png).stat().st_size > 5000, png


def test_grayscale_can_be_forced_on_colour_data(user_project: Path):
    set_param(user_project, "data.color", "grayscale")
    fetch.main()
    spec = json.loads(Path("data/dataset.json").read_text())
    assert spec["channels"] == 1 and spec["color_reason"].startswith("data.color: grayscale; 41 of 41 images are colour")
    weights.main()
    assert keras.models.load_model("models/backbone/backbone.keras").input.shape[-1] == 1
