"""Input-size trade-off: which experiments count, what each size reports, and the table and figure."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from steel_defect.seeds import Upstream, runs_from_exp_show, upstream
from steel_defect.sizes import collect, figure, markdown
from tests.test_seeds import entry

ROOT = Path(__file__).resolve().parent.parent
UP = Upstream(code=frozenset({"stages/fetch.py", "steel_defect/model.py"}), params=frozenset({"data", "split", "train", "model"}))


def sized(name: str, size: int, errors: int = 0, ms: float = 5.0, **changes) -> dict:
    """A run at one input size, with the benchmark and export metrics its stages write."""
    run = entry(name, 0, errors=errors, **changes)
    data = run["data"]
    data["params"]["params.yaml"]["data"]["model"] = {"backbone": "mobilenet_v2", "image_size": size}
    data["metrics"]["metrics/evaluate/metrics.json"]["data"]["chosen"] = "fine_tuned"
    timing = {"ms_batch1_p95": 2 * ms, "runs": 300, "images_per_s_batch": 1000 / ms, "file_mb": 5.0, "params": 2_000_000}
    data["metrics"]["metrics/benchmark.json"] = {
        "data": {
            "machine": {"cpu": "Test CPU", "usable_cores": 2, "litert_threads": 2},
            "keras": {**timing, "ms_batch1_median": 5 * ms, "test_accuracy": 1 - errors / 360},
            "float32": {**timing, "ms_batch1_median": ms, "test_accuracy": 1 - errors / 360},
            "float16": {**timing, "ms_batch1_median": 1.1 * ms, "test_accuracy": 1 - (errors + 1) / 360},
        }
    }
    data["metrics"]["metrics/export.json"] = {"data": {"float32": {"errors": errors}, "float16": {"errors": errors + 1}}}
    return run


def show(*experiments: dict) -> list[dict]:
    listed = [{"name": e["name"], "revs": [e], "executor": {"state": "success"}} for e in experiments]
    return [sized("workspace", 224, ms=7.0), {**sized("main", 224, ms=7.5), "experiments": listed}]


def test_one_run_per_size_of_the_same_pipeline_largest_first(tmp_path: Path):
    runs = runs_from_exp_show(
        show(
            sized("size-160", 160, errors=1, ms=4.0, params={"data.source": "/abs/NEU-CLS"}),
            sized("size-96", 96, errors=3, ms=2.0),
            sized("other-epochs", 128, params={"train.epochs": 5}),
            sized("other-code", 128, code={"steel_defect/model.py": "changed"}),
        )
    )
    table = collect(runs, runs[0], UP)
    assert [s["image_size"] for s in table["sizes"]] == [224, 160, 96], "128 ran other code or params"
    first = table["sizes"][0]
    assert first["run"] == "workspace", "the workspace's own timings, not the commit's"
    assert first["models"]["float32"]["ms_batch1_median"] == 7.0
    small = table["sizes"][2]
    assert small["errors"] == 3 and small["accuracy"] == pytest.approx(1 - 3 / 360)
    assert small["models"]["float16"]["errors"] == 4 and small["models"]["keras"]["errors"] == 3
    assert set(small["models"]) == {"keras", "float32", "float16"}

    text = markdown(table)
    lines = text.splitlines()
    assert (
        lines[0].startswith("| input (px) |")
        and len([line for line in lines if line.startswith("| 1") or line.startswith("| 2") or line.startswith("| 9")]) == 3
    )
    assert "| 96 | size-96 | fine_tuned | 3 in 360 | 99.17 |" in text
    assert "Test CPU" in text and "one error is 0.28 points" in text
    figure(table, tmp_path / "sizes.png")
    assert (tmp_path / "sizes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_size_with_different_errors_is_a_reproducibility_failure():
    runs = runs_from_exp_show(show(sized("again", 224, errors=2)))
    with pytest.raises(ValueError, match="at input size 224 but made 2 and 0 test errors"):
        collect(runs, runs[0], UP)


def test_upstream_of_benchmark_covers_training_export_and_evaluate():
    up = upstream(yaml.safe_load((ROOT / "dvc.yaml").read_text()), target="benchmark")
    assert {"stages/fine_tune.py", "stages/export.py", "stages/evaluate.py", "stages/benchmark.py"} <= up.code
    assert {"model", "export.kinds", "benchmark.runs", "evaluate.min_confidence"} <= up.params
    assert "stages/learning_curve.py" not in up.code, "the learning curve does not change the trade-off"
