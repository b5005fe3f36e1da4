"""A user's own dataset: colour can be turned to gray. (The whole pipeline on such a dataset, through
`dvc repro` and again in one process, is tests/test_dvc_repro.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import keras

from stages import fetch, weights
from tests.conftest import TINY, set_param, use_user_dataset


def test_grayscale_can_be_forced_on_colour_data(project: Path):
    for key, value in TINY.items():
        set_param(project, key, value)
    use_user_dataset(project)
    set_param(project, "data.color", "grayscale")
    fetch.main()
    spec = json.loads(Path("data/dataset.json").read_text())
    assert spec["channels"] == 1 and spec["color_reason"].startswith("data.color: grayscale; 41 of 41 images are colour")
    weights.main()
    assert keras.models.load_model("models/backbone/backbone.keras").input.shape[-1] == 1
