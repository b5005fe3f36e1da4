"""Photometric-augmentation trade-off: which experiments count, what each setting reports, the table and figure."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from experiments.lib.photometric import collect, figure, label, markdown, recommend, total_strength
from steel_defect.seeds import Upstream, runs_from_exp_show, upstream
from tests.test_seeds import entry, with_robustness

ROOT = Path(__file__).resolve().parents[2]
CODE = frozenset({"stages/fetch.py", "steel_defect/model.py"})
UP = Upstream(code=CODE, params=frozenset({"data", "split", "train", "augment"}))


def trained(
    name: str, errors: int = 0, specks_accuracy: float = 0.6, noise_accuracy: float = 0.96, augment: dict | None = None, **changes
) -> dict:
    """A run with photometric strengths `augment` and the robustness metrics its stage writes."""
    run = entry(name, 0, errors=99, **changes)  # evaluate's metrics: stale in a run that stops at robustness, never read
    data = run["data"]
    data["params"]["params.yaml"]["data"]["augment"] = {"copies": 4, "seed": 0, **(augment or {})}
    data["metrics"]["metrics/select.json"] = {"data": {"chosen": "fine_tuned"}}
    moderate = {"gaussian_noise": (10.0, noise_accuracy), "salt_pepper": (0.01, specks_accuracy)}
    return with_robustness(run, errors, moderate, worst_accuracy=0.3, worst="salt_pepper 0.05")


def show(*experiments: dict) -> list[dict]:
    listed = [{"name": e["name"], "revs": [e], "executor": {"state": "success"}} for e in experiments]
    return [trained("workspace"), {**trained("main"), "experiments": listed}]


def test_one_run_per_setting_of_the_same_pipeline_none_first(tmp_path: Path):
    runs = runs_from_exp_show(
        show(
            trained("wide", errors=2, specks_accuracy=0.995, noise_accuracy=0.99, augment={"noise": 20.0, "specks": 0.03}),
            trained("bounds", specks_accuracy=0.99, augment={"noise": 10.0, "specks": 0.01}, params={"data.source": "/abs/NEU"}),
            trained("other-epochs", augment={"noise": 5.0}, params={"train.epochs": 5}),
            trained("other-code", augment={"noise": 5.0}, code={"steel_defect/model.py": "changed"}),
        )
    )
    table = collect(runs, runs[0], UP)
    assert [s["run"] for s in table["settings"]] == ["workspace", "bounds", "wide"], "noise 5 ran other code or params"
    none, bounds, wide = table["settings"]
    assert label(none["augment"]) == "none" and label(bounds["augment"]) == "noise 10, specks 0.01"
    assert wide["errors"] == 2 and wide["accuracy"] == pytest.approx(1 - 2 / 360) and wide["deployed"] == "fine_tuned"
    assert wide["moderate"]["salt_pepper"]["accuracy"] == 0.995
    assert none["worst_moderate"] == "salt_pepper 0.01" and wide["worst_moderate"] == "gaussian_noise 10"
    assert wide["worst_moderate_accuracy"] == 0.99 > bounds["worst_moderate_accuracy"] == 0.96

    assert recommend(table, 0.997)["run"] == "bounds", "wide is more robust but loses the clean goal"
    assert recommend(table, 0.99)["run"] == "wide"
    assert recommend(table, 1.01) is None

    text = markdown(table, 0.99, 0.985, 0.997)
    assert "the best worst moderate accuracy: **noise 10, specks 0.01** (bounds)." in text
    assert "| none | workspace | 0 in 360 | 96.0 (10) | 60.0 (0.01) | **60.0** (salt_pepper 0.01) |" in text
    assert "| noise 20, specks 0.03 | wide | 2 in 360 | 99.0 (10) | 99.5 (0.01) | **99.0** (gaussian_noise 10) |" in text
    assert "| gaussian noise | salt pepper |" in text.splitlines()[0] and "each moderate perturbation >= 99%" in text
    figure(table, tmp_path / "photometric.png", goal_each=0.99)
    assert (tmp_path / "photometric.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_setting_with_different_clean_errors_is_a_reproducibility_failure():
    runs = runs_from_exp_show(show(trained("again", errors=2)))
    with pytest.raises(ValueError, match="photometric none but made 2 and 0 clean test errors"):
        collect(runs, runs[0], UP)


def test_upstream_of_robustness_covers_augmentation_training_and_export():
    up = upstream(yaml.safe_load((ROOT / "dvc.yaml").read_text()), target="robustness")
    assert {"steel_defect/augmentation.py", "stages/fine_tune.py", "stages/export.py", "stages/robustness.py"} <= up.code
    assert {"augment", "finetune.epochs", "export.kinds", "robustness"} <= up.params
    assert "stages/compare.py" not in up.code and "stages/benchmark.py" not in up.code


def test_jpeg_counts_as_stronger_the_lower_its_quality_and_off_counts_nothing():
    """augment.jpeg is the one key where a lower value is a stronger change."""
    assert total_strength({"noise": 10.0, "jpeg": 0.0}) == 10.0
    assert total_strength({"jpeg": 30.0}) > total_strength({"jpeg": 90.0}) > 0
    tie = {"worst_moderate_accuracy": 0.99, "accuracy": 1.0}
    table = {"settings": [{**tie, "run": "heavy", "augment": {"jpeg": 30.0}}, {**tie, "run": "mild", "augment": {"jpeg": 90.0}}]}
    assert recommend(table, 0.997)["run"] == "mild", "a tie goes to the milder setting"
