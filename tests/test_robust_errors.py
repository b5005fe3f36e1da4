"""What a perturbation breaks: error pairs counted and the perturbations below the goal picked from robustness.json."""

import numpy as np

from steel_defect.robust_errors import below_goal, confusions, markdown


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
    text = markdown([row], 100, 0.99, "python -m benchmarks.robust_errors")
    assert "| gaussian_blur 1 | 2 (98.0%) | scale -> crazing (2) |" in text and "below 99%" in text
