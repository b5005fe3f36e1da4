"""What a perturbation breaks: error pairs counted and the perturbations below the goal picked from robustness.json."""

import json
from pathlib import Path

import numpy as np
import pytest

from experiments import robust_errors as robust_errors_benchmark
from experiments.lib.robust_errors import below_goal, error_table, markdown, perturb_chain, saturated_ranges
from stages import robustness
from steel_defect.errors import UserError
from steel_defect.metrics import confusions
from steel_defect.perturb import perturb
from tests.conftest import tiny_pipeline


def test_confusions_count_true_predicted_pairs_most_frequent_first():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 1, 1, 2])
    assert confusions(y, predicted, ["crazing", "inclusion", "scale"]) == [
        ("scale", "inclusion", 2),
        ("crazing", "inclusion", 1),
        ("inclusion", "scale", 1),
    ]
    assert confusions(y, y, ["crazing", "inclusion", "scale"]) == []


def test_below_goal_worst_first_and_the_table():
    robustness = {
        "keras": {
            "moderate": {
                "gaussian_blur": {"value": 1.0, "accuracy": 0.98},
                "brightness": {"value": -0.2, "accuracy": 0.985},
                "flip": {"value": 1.0, "accuracy": 1.0},
            }
        }
    }
    assert below_goal(robustness, "keras", 0.99) == [("gaussian_blur", 1.0, 0.98), ("brightness", -0.2, 0.985)]
    row = {"perturbation": "gaussian_blur", "value": 1.0, "errors": 2, "confusions": [("scale", "crazing", 2)]}
    text = markdown([row], 100, 0.99, "python -m experiments.robust_errors")
    assert "| gaussian_blur 1 | 2 (98.0%) | scale -> crazing (2) |" in text and "below 99%" in text


def test_a_chain_applies_its_steps_in_turn_as_the_robustness_stage_draws_them():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (3, 12, 12, 1)).astype(np.float32)
    streak = perturb(images, "motion_blur", 5.0, 7)
    assert np.array_equal(perturb_chain(images, "motion_blur 5.0", 7), streak)
    assert np.array_equal(perturb_chain(images, "motion_blur 5 + gaussian_noise 3", 7), perturb(streak, "gaussian_noise", 3.0, 7))
    vertical = perturb_chain(images, "transpose + motion_blur 5 + transpose", 7)
    assert np.array_equal(vertical, np.swapaxes(perturb(np.swapaxes(images, 1, 2), "motion_blur", 5.0, 7), 1, 2))
    assert not np.array_equal(vertical, streak)  # the other direction


@pytest.mark.parametrize("chain", ["motion_blur", "wobble 3", "motion_blur 5 + gaussian_noise x"])
def test_a_mistyped_chain_names_the_step(chain):
    with pytest.raises(UserError, match="step '"):
        perturb_chain(np.zeros((1, 4, 4, 1), np.float32), chain)


def test_the_error_table_labels_each_row():
    rows = [{"label": "motion_blur 5.0 + gaussian_noise 3.0", "errors": 3, "confusions": [("crazing", "scale", 3)]}]
    text = error_table(rows, 300, "perturbations, in turn")
    assert "| perturbations, in turn |" in text
    assert "| motion_blur 5.0 + gaussian_noise 3.0 | 3 (99.0%) | crazing -> scale (3) |" in text


def test_clipped_shares_tell_a_wiped_out_picture_from_a_misread_one():
    images = np.full((4, 10, 10, 1), 128.0, np.float32)
    images[0, :5] = 255  # half white
    images[1, :9] = 255  # 90% white
    images[2, 0, :3] = 0  # 3% black
    y, predicted = np.array([0, 0, 1, 1]), np.array([1, 1, 0, 1])
    ranges = saturated_ranges(images, y, predicted, ["crazing", "pitted"])
    assert ranges == {"crazing -> pitted": [0.5, 0.9], "pitted -> crazing": [0.03, 0.03]}
    row = {"run": "prob5-s3", "perturbation": "brightness", "value": 0.2, "errors": 3, "test_images": 361}
    row |= {"confusions": confusions(y, predicted, ["crazing", "pitted"]), "saturated": ranges}
    text = markdown([row], 360, 0.99, "python -m experiments.robust_errors --setting 'brightness 0.2'", chosen=True)
    clipped = "crazing -> pitted (2, 50-90% clipped); pitted -> crazing (1, 3% clipped)"
    assert f"| prob5-s3: brightness 0.2 | 3 (99.2%) | {clipped} |" in text  # its own 361 test images
    assert "each setting asked for" in text and "at 0 or 255" in text


def test_the_errors_of_the_settings_asked_for_match_the_robustness_stage(project: Path):
    tiny_pipeline(project, export__kinds=["float32", "float16"])
    robustness.main()
    results = json.loads(Path("metrics/robustness.json").read_text())
    keras = results["keras"]
    streak = next(r for r in keras["settings"] if r["perturbation"] == "motion_blur" and r["value"] == 5)
    robust_errors_benchmark.main(["--setting", "brightness 0.2", "--setting", "motion_blur 5", "--name", "asked"])
    asked = json.loads(Path("docs/experiments/robust_errors-asked.json").read_text())["perturbations"]
    assert [(r["perturbation"], r["value"]) for r in asked] == [("brightness", 0.2), ("motion_blur", 5.0)]
    assert asked[1]["errors"] == round(results["test_images"] * (1 - streak["accuracy"])), "perturbed as the stage does"
    for row in asked:
        assert sum(n for _, _, n in row["confusions"]) == row["errors"]
        assert set(row["saturated"]) == {f"{t} -> {p}" for t, p, _ in row["confusions"]}
        assert all(0.0 <= lo <= hi <= 1.0 for lo, hi in row["saturated"].values())
    assert "| run: perturbation |" in Path("docs/experiments/robust_errors-asked.md").read_text()
    robust_errors_benchmark.main([])  # the default: every perturbation below the goal, checked against the stage's counts
    below = json.loads(Path("docs/experiments/robust_errors.json").read_text())["perturbations"]
    assert [r["perturbation"] for r in below] == [
        name for name, m in sorted(keras["moderate"].items(), key=lambda kv: kv[1]["accuracy"]) if m["accuracy"] < 0.99
    ]
    for bad in ("brightness", "transpose", "brightness 0.2 + flip 1"):
        with pytest.raises(UserError, match="'brightness'|'transpose'|give one 'name value'"):
            robust_errors_benchmark.main(["--setting", bad])
