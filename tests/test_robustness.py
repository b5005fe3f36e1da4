"""Perturbations (identity at neutral, monotone, seeded) and the robustness stage end to end on a tiny model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from stages import robustness
from steel_defect.errors import UserError
from steel_defect.perturb import NEUTRAL, PERTURBATIONS, perturb
from steel_defect.robustness import summarise
from tests.conftest import make_image, set_param

# Strengths in increasing order for the monotonicity check (flip has no order; it is checked apart).
LADDERS = {
    "gaussian_noise": [2, 5, 10, 20],
    "salt_pepper": [0.002, 0.01, 0.05],
    "brightness": [0.05, 0.1, 0.2],
    "gain": [1.05, 1.2, 1.5],
    "contrast": [1.1, 1.3, 1.6],
    "gaussian_blur": [0.5, 1, 2],
    "motion_blur": [3, 5, 9],
    "illumination": [0.05, 0.2, 0.4],
    "jpeg_quality": [90, 50, 10],
    "rotation": [5, 15, 30],
    "column_gain": [0.01, 0.03, 0.1],
    "row_gain": [0.01, 0.03, 0.1],
    "dead_columns": [1, 2, 8],
    "row_jitter": [0.5, 1, 4],
    "vignetting": [0.1, 0.2, 0.4],
    "occlusion": [0.05, 0.1, 0.2],
}


def images() -> np.ndarray:
    """Three textured 32x32 grayscale images, values kept off 0 and 255 so brightening and darkening both show."""
    stack = np.stack([np.asarray(make_image(c, 1), dtype=np.float32) for c in range(3)])[..., None]
    return 40 + 0.6 * stack


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_each_perturbation_is_the_identity_at_its_neutral_value_and_keeps_shape_and_range(name: str):
    x = images()
    assert np.array_equal(perturb(x, name, NEUTRAL[name]), x)
    strong = perturb(x, name, (LADDERS.get(name) or [1])[-1])
    assert strong.shape == x.shape and strong.dtype == np.float32
    assert strong.min() >= 0 and strong.max() <= 255 and not np.array_equal(strong, x)


@pytest.mark.parametrize("name", list(LADDERS))
def test_stronger_means_a_larger_change(name: str):
    x = images()
    changes = [np.abs(perturb(x, name, v) - x).mean() for v in LADDERS[name]]
    assert changes == sorted(changes) and changes[0] > 0, dict(zip(LADDERS[name], changes, strict=True))


RANDOM = ["gaussian_noise", "salt_pepper", "illumination", "column_gain", "row_gain", "dead_columns", "row_jitter", "occlusion"]


@pytest.mark.parametrize("name", RANDOM)
def test_random_perturbations_repeat_exactly_with_their_seed(name: str):
    x, value = images(), LADDERS[name][1]
    assert np.array_equal(perturb(x, name, value, seed=3), perturb(x, name, value, seed=3))
    assert not np.array_equal(perturb(x, name, value, seed=3), perturb(x, name, value, seed=4))


def test_flips_mirror_and_an_unknown_name_is_refused():
    x = images()
    assert np.array_equal(perturb(x, "flip", 1), x[:, :, ::-1]) and np.array_equal(perturb(x, "flip", 2), x[:, ::-1])
    with pytest.raises(ValueError, match="unknown perturbation 'fog'"):
        perturb(x, "fog", 1)


def test_line_camera_artefacts_follow_the_lines():
    x = images()
    columns, rows = perturb(x, "column_gain", 0.05) / x, perturb(x, "row_gain", 0.05) / x
    assert np.allclose(columns, columns[:, :1]) and not np.allclose(columns, columns[:, :, :1]), "one gain per column"
    assert np.allclose(rows, rows[:, :, :1]) and not np.allclose(rows, rows[:, :1]), "one gain per row"
    dead = perturb(x, "dead_columns", 2)
    hit = np.any(dead != x, axis=(1, 3))  # (n, width)
    assert (hit.sum(axis=1) == 2).all() and set(np.unique(dead[dead != x])) <= {0.0, 255.0}
    ramp = np.broadcast_to(np.arange(32, dtype=np.float32)[None, None, :, None] + 100, (2, 32, 32, 1))
    jittered = perturb(ramp, "row_jitter", 2)
    offsets = (jittered - ramp)[:, :, 8:-8, 0]  # away from the mirrored edges each row is the ramp moved sideways
    assert np.all(offsets == offsets[:, :, :1]) and offsets.std() > 0, "every row shifts as a whole, rows by different amounts"


def test_held_out_families_are_summarised_apart():
    rows = [
        {"perturbation": "gaussian_noise", "value": 10.0, "strength": 10.0, "accuracy": 0.99},
        {"perturbation": "occlusion", "value": 0.1, "strength": 0.1, "accuracy": 0.95},
        {"perturbation": "occlusion", "value": 0.2, "strength": 0.2, "accuracy": 0.90},
    ]
    s = summarise(1.0, rows, {"gaussian_noise": 10, "occlusion": 0.1}, held_out=["occlusion"])
    assert s["worst_moderate_accuracy"] == 0.99 and s["worst_accuracy"] == 0.99, "held-out families stay out of the seen worst"
    assert s["held_out_worst_moderate_accuracy"] == 0.95 and s["held_out_worst_moderate"] == "occlusion 0.1"
    assert s["moderate"]["occlusion"] == {"value": 0.1, "accuracy": 0.95}, "each family keeps its own row"
    assert "held_out" not in summarise(1.0, rows, {"gaussian_noise": 10, "occlusion": 0.1}), "nothing held out by default"


def test_summary_on_known_numbers():
    rows = [
        {"perturbation": "gaussian_noise", "value": 5.0, "strength": 5.0, "accuracy": 0.99},
        {"perturbation": "gaussian_noise", "value": 10.0, "strength": 10.0, "accuracy": 0.97},
        {"perturbation": "gaussian_noise", "value": 20.0, "strength": 20.0, "accuracy": 0.80},
        {"perturbation": "jpeg_quality", "value": 30.0, "strength": 70.0, "accuracy": 0.98},
        {"perturbation": "jpeg_quality", "value": 10.0, "strength": 90.0, "accuracy": 0.90},
    ]
    s = summarise(1.0, rows, {"gaussian_noise": 10, "jpeg_quality": 70})
    assert s["worst_moderate_accuracy"] == 0.97 and s["worst_moderate"] == "gaussian_noise 10"
    assert s["worst_accuracy"] == 0.80 and s["worst"] == "gaussian_noise 20"
    assert s["moderate"]["gaussian_noise"] == {"value": 10.0, "accuracy": 0.97}
    assert s["moderate"]["jpeg_quality"] == {"value": 30.0, "accuracy": 0.98}
    assert [r["moderate"] for r in s["settings"]] == [True, True, False, True, False]


def test_stage_end_to_end_on_a_tiny_model(trained_project: Path):
    project = trained_project
    set_param(project, "robustness.models", ["float32", "keras"])  # the default's float32 first; Keras beside it
    robustness.main()
    results = json.loads(Path("metrics/robustness.json").read_text())
    assert set(results) == {"test_images", "seed", "deployed", "families", "float32", "keras"}
    assert results["families"]["held_out"] == ["row_jitter"] and "motion_blur" in results["families"]["not_trained"]
    assert "gaussian_noise" in results["families"]["trained"]
    assert results["deployed"]["model"] == "float32" and 0 <= results["deployed"]["agrees_with_keras"] <= 1
    keras = results["keras"]
    assert len(keras["settings"]) == 14 and sum(r["moderate"] for r in keras["settings"]) == 12
    assert keras["held_out"] == ["row_jitter"] and "held_out_worst_moderate_accuracy" in keras, "held out: reported apart"
    assert keras["worst_accuracy"] <= keras["worst_moderate_accuracy"] <= 1.0
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in keras["settings"])
    first = Path("metrics/robustness.json").read_bytes()
    robustness.main()
    assert Path("metrics/robustness.json").read_bytes() == first, "seeded: a rerun scores the same"
    table = Path("metrics/robustness.md").read_text()
    assert "| gaussian noise | trained | 10: " in table and "20*: " in table, "strengths beyond the moderate bound are starred"
    assert "| row jitter | held out | 1: " in table and "| motion blur | not trained |" in table, "what training showed"
    for path in ("plots/robustness.csv", "plots/robustness.png", "plots/robustness_examples.png"):
        assert Path(path).stat().st_size > 0, path
    plotted = list(csv.DictReader(Path("plots/robustness.csv").open()))
    assert len(plotted) == 12 and all(row["accuracy"] == row["float32"] for row in plotted), "the plot's x: the first model"

    set_param(project, "robustness.models", ["keras", "bfloat16"])
    written = r"\(float32, float16, dynamic_range, int8\)"  # the kinds export wrote
    with pytest.raises(UserError, match=r"'robustness.models' is \['keras', 'bfloat16'\]; .*" + written):
        robustness.main()
    set_param(project, "robustness.models", ["keras"])
    set_param(project, "robustness.perturbations.fog", [1])
    with pytest.raises(UserError, match="'robustness.perturbations.fog' is unknown"):
        robustness.main()
