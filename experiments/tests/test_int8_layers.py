"""The int8 analysis: worst tensors measured on validation, every variant scored and timed, on the tiny pipeline."""

import json
from pathlib import Path

import pytest

from experiments import int8_layers
from steel_defect.errors import UserError
from tests.conftest import tiny_pipeline


def test_int8_layers_scores_every_variant_and_names_a_wrong_perturbation(project: Path):
    tiny_pipeline(project)
    int8_layers.main([])
    analysis = json.loads(Path("docs/experiments/int8_layers.json").read_text())
    errors = [w["rmse_steps"] for w in analysis["worst_tensors"]]
    assert errors == sorted(errors, reverse=True) and errors[0] > 0
    names = [v["model"] for v in analysis["variants"]]
    kept_float = [f"int8, {k} worst kept float" for k in (1, 2, 3)]
    assert names == ["float32", "int8", *kept_float, "int16x8 (16-bit activations)", "dynamic_range int8"]
    ran = [v for v in analysis["variants"] if "failed" not in v]  # 16x8 may refuse a tiny random model; it says so
    assert {v["model"] for v in analysis["variants"]} - {v["model"] for v in ran} <= {"int16x8 (16-bit activations)"}
    assert all(0 <= v["test_errors"] <= 12 and 0 <= v["val_errors"] and v["ms_batch1_median"] > 0 for v in ran)
    assert analysis["variants"][1]["file_mb"] < analysis["variants"][0]["file_mb"], "int8 is smaller than float32"
    assert "| float32 |" in Path("docs/experiments/int8_layers.md").read_text()
    # the same on perturbed images, into files of their own; a wrong perturbation is one line
    int8_layers.main(["--perturb", "salt_pepper 0.05"])
    specked = json.loads(Path("docs/experiments/int8_layers-salt_pepper0.05.json").read_text())
    assert specked["perturbation"] == "salt_pepper 0.05" and len(specked["variants"]) == len(names)
    text = Path("docs/experiments/int8_layers-salt_pepper0.05.md").read_text()
    assert "test errors (of 12) under salt_pepper 0.05" in text and "--perturb 'salt_pepper 0.05'" in text
    with pytest.raises(UserError, match="step 'specks 1'"):
        int8_layers.main(["--perturb", "specks 1"])
