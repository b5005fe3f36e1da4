"""Test-time augmentation: the views are the square's eight symmetries, and schemes average probabilities."""

import numpy as np

from steel_defect.tta import SCHEMES, VIEWS, markdown, scheme_accuracy, summarise


def test_views_are_eight_distinct_pixel_permutations():
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)  # no symmetry of its own
    seen = {VIEWS[v](image).tobytes() for v in VIEWS}
    assert len(seen) == 8
    for v in VIEWS:
        out = VIEWS[v](image)
        assert out.shape == image.shape and sorted(out.ravel()) == sorted(image.ravel()), v
    assert all(set(views) <= set(VIEWS) for views in SCHEMES.values())


def test_schemes_average_probabilities_before_the_argmax():
    y = np.array([0, 1])
    one = {v: np.array([[0.4, 0.6], [0.2, 0.8]]) for v in VIEWS}  # identity alone: first image wrong
    one["flip_lr"] = one["flip_ud"] = np.array([[0.9, 0.1], [0.3, 0.7]])  # the two mirror views outvote it
    scores = scheme_accuracy(one, y)
    assert scores["none"] == 0.5 and scores["flips (4 views)"] == 1.0 and scores["rotations (4 views)"] == 0.5
    assert scores["all 8 symmetries"] == 1.0  # (6 x 0.4 + 2 x 0.9) / 8 = 0.525 for the right class


def test_summary_keeps_each_perturbations_worst_and_the_table_shows_it():
    rows = [
        {"perturbation": "salt_pepper", "value": 0.002, **dict.fromkeys(SCHEMES, 0.99)},
        {"perturbation": "salt_pepper", "value": 0.01, **dict.fromkeys(SCHEMES, 0.98), "none": 0.97},
        {"perturbation": "flip", "value": 1.0, **dict.fromkeys(SCHEMES, 1.0)},
    ]
    summary = summarise(dict.fromkeys(SCHEMES, 1.0), rows, {"salt_pepper": 0.01, "flip": 2})
    assert summary["none"]["worst_moderate"] == "salt_pepper 0.01" and summary["none"]["worst_moderate_accuracy"] == 0.97
    assert summary["flips (4 views)"]["moderate"] == {
        "salt_pepper": {"value": 0.01, "accuracy": 0.98},
        "flip": {"value": 1.0, "accuracy": 1.0},
    }
    text = markdown(summary, 360, "m.tflite", "python -m benchmarks.tta")
    assert "| salt pepper | 97.00 | 98.00 | 98.00 | 98.00 |" in text and "| clean | 100.00 |" in text
