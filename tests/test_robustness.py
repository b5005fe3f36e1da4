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
from tests.conftest import make_image, set_param, tiny_pipeline

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


@pytest.mark.parametrize("name", ["gaussian_noise", "salt_pepper", "illumination"])
def test_random_perturbations_repeat_exactly_with_their_seed(name: str):
    x, value = images(), LADDERS[name][1]
    assert np.array_equal(perturb(x, name, value, seed=3), perturb(x, name, value, seed=3))
    assert not np.array_equal(perturb(x, name, value, seed=3), perturb(x, name, value, seed=4))


def test_flips_mirror_and_an_unknown_name_is_refused():
    x = images()
    assert np.array_equal(perturb(x, "flip", 1), x[:, :, ::-1]) and np.array_equal(perturb(x, "flip", 2), x[:, ::-1])
    with pytest.raises(ValueError, match="unknown perturbation 'fog'"):
        perturb(x, "fog", 1)


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


def test_stage_end_to_end_on_a_tiny_model(project: Path):
    tiny_pipeline(project, export__kinds=["float32", "float16"])
    set_param(project, "robustness.models", ["float32", "keras"])  # the default's float32 first; Keras beside it
    robustness.main()
    results = json.loads(Path("metrics/robustness.json").read_text())
    assert set(results) == {"test_images", "seed", "deployed", "float32", "keras"}
    assert results["deployed"]["model"] == "float32" and 0 <= results["deployed"]["agrees_with_keras"] <= 1
    keras = results["keras"]
    assert len(keras["settings"]) == 13 and sum(r["moderate"] for r in keras["settings"]) == 11
    assert keras["worst_accuracy"] <= keras["worst_moderate_accuracy"] <= 1.0
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in keras["settings"])
    first = Path("metrics/robustness.json").read_bytes()
    robustness.main()
    assert Path("metrics/robustness.json").read_bytes() == first, "seeded: a rerun scores the same"
    table = Path("metrics/robustness.md").read_text()
    assert "| gaussian noise | 10: " in table and "20*: " in table, "strengths beyond the moderate bound are starred"
    for path in ("plots/robustness.csv", "plots/robustness.png", "plots/robustness_examples.png"):
        assert Path(path).stat().st_size > 0, path
    plotted = list(csv.DictReader(Path("plots/robustness.csv").open()))
    assert len(plotted) == 11 and all(row["accuracy"] == row["float32"] for row in plotted), "the plot's x: the first model"

    set_param(project, "robustness.models", ["keras", "int8"])
    with pytest.raises(UserError, match=r"'robustness.models' is \['keras', 'int8'\]; .*\(float32, float16\)"):
        robustness.main()
    set_param(project, "robustness.models", ["keras"])
    set_param(project, "robustness.perturbations.fog", [1])
    with pytest.raises(UserError, match="'robustness.perturbations.fog' is unknown"):
        robustness.main()
