"""The compare stage on a tiny metrics set: our measured rows, reported rows, and other datasets never ranked."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from stages import compare
from steel_defect.compare import accuracy_range, reported_few_label_points, same_dataset
from steel_defect.headline import headline
from steel_defect.seeds import interval
from tests.conftest import set_param

HEADER = "method,dataset,accuracy_pct,protocol,params_M,latency_ms,latency_hw,train_images,citation,doi,source,verification\n"
LITERATURE = HEADER + (
    "Seed NASNet,NEU-CLS,98.06,validation,5.3,27,CPU per image,,Kateb 2024,10.1/x,,verified\n"
    "ResNet on rolled metal,rolled-metal 3-class (NOT NEU-CLS),99.99,test,25.6,58.2,per seed Table 5,,Konovalenko,,,abstract\n"
    "DeCAF,per seed Table 5,99.98,per paper,60,10.3,per seed Table 5,,Ren,,,UNVERIFIED (not found)\n"
    "Spiking ViT,NEU-CLS,99.41-99.77,several,,,,,JEI 2024,,,abstract\n"
)
EVALUATE = {
    "accuracy": 1.0,
    "errors": 0,
    "test_images": 360,
    "fine_tuned_accuracy": 1.0,
    "head_accuracy": 0.9972,
    "baseline_accuracy": 0.9917,
    "params": 2587462,
    "fine_tuned_params": 2587462,
    "head_params": 2587462,
    "baseline_params": 2265670,
    "backbone": "mobilenet_v2",
    "weights": "imagenet (torchvision)",
    "input": "grayscale",
}
DATA = {"images": 1800, "classes": {"crazing": 300}}


def strategy(errors: list[int]) -> dict:
    accuracies = [1 - e / 360 for e in errors]
    return {
        "seeds": list(range(len(errors))),
        "test_predictions": 360 * len(errors),
        "total_errors": sum(errors),
        "train_images": 1152,
        **{k: interval(accuracies) for k in ("accuracy", "fine_tuned_accuracy", "head_accuracy", "baseline_accuracy")},
    }


def benchmark(params: int, ms: float) -> str:
    machine = {"cpu": "x86_64", "usable_cores": 2, "litert_threads": 2}
    speed = {"ms_batch1_median": ms, "ms_batch1_p95": ms, "runs": 3, "images_per_s_batch": 1.0, "file_mb": 1.0}
    return json.dumps({"machine": machine, **{k: {**speed, "params": params} for k in ("keras", "float32", "float16", "int8")}})


@pytest.fixture
def metrics_set(project: Path) -> Path:
    set_param(project, "compare.datasets", ["NEU-CLS", "NEU"])
    for path, content in {
        "data/literature.csv": LITERATURE,
        "metrics/evaluate/metrics.json": json.dumps(EVALUATE),
        "metrics/data.json": json.dumps(DATA),
        "metrics/split.json": json.dumps({"train": {"total": 1152}}),
        "metrics/benchmark.json": benchmark(2587462, 21.4),
        "metrics/seeds.json": json.dumps(
            {"dataset": DATA, "strategies": {"stratified": strategy([0, 1, 0]), "grouped": strategy([2, 1])}}
        ),
    }.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(content)
    return project


def tables(text: str) -> tuple[str, str]:
    same, other = text.split("### Other datasets")
    return same, other


def test_compare_joins_measured_and_reported_rows_and_never_ranks_other_datasets(metrics_set: Path):
    compare.main()
    same, other = tables(Path("metrics/compare.md").read_text())
    rows = [line for line in same.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[1] for r in rows[:1]] == [
        "deployed (chosen on validation): mobilenet_v2 (imagenet (torchvision), grayscale input)"
    ]
    assert "99.91 ± 0.16 (n=3; 95% CI" in rows[0] and "1 errors in 1080" in rows[0] and "| 21.4 |" in rows[0]
    assert any("grouped 80/20 split, 2 seeds" in r for r in rows), "both split strategies are reported"
    assert any("frozen-feature baseline" in r and "| 2.27 |" in r for r in rows), "the baseline's own size"
    assert "| reported | Seed NASNet | NEU-CLS | 98.06 |" in same
    order = [r.split(" | ")[1] for r in rows]
    assert order.index("Spiking ViT") < order.index("Seed NASNet"), (
        "same-dataset rows are sorted by accuracy (a range by its middle)"
    )
    assert "ResNet on rolled metal" not in same and "DeCAF" not in same, "other datasets are never in the ranked table"
    assert "| reported | ResNet on rolled metal | rolled-metal 3-class (NOT NEU-CLS) | 99.99 |" in other
    assert "| reported, UNVERIFIED | DeCAF |" in other
    assert Path("plots/compare.png").stat().st_size > 10000


def test_seeds_of_other_data_are_not_used(metrics_set: Path, capsys):
    (metrics_set / "metrics/data.json").write_text(json.dumps({"images": 41, "classes": {"scratch": 41}}))
    (metrics_set / "metrics/benchmark.json").write_text(benchmark(1, 3.0))
    compare.main()
    assert "our rows are this run alone (n=1)" in capsys.readouterr().out
    same, _ = tables(Path("metrics/compare.md").read_text())
    assert "100.00 (n=1); 0 errors in 360" in same and "stratified 80/20 split, 1 seed;" in same
    assert "| 3.0 |" not in same, "a latency measured on another model is not shown"


def test_a_literature_file_without_the_expected_columns_is_named(metrics_set: Path):
    from steel_defect.errors import UserError

    (metrics_set / "data/literature.csv").write_text("method,accuracy\nx,99\n")
    with pytest.raises(UserError, match=r"data/literature.csv: missing columns"):
        compare.main()


def test_accuracy_text_and_dataset_names():
    assert accuracy_range("99.41-99.77") == pytest.approx((99.59, 99.41, 99.77))
    assert accuracy_range("~100") == (100.0, 100.0, 100.0) and accuracy_range("") is None
    assert same_dataset("NEU-CLS (GAN-augmented)", ["NEU-CLS"]) and same_dataset("NEU", ["NEU-CLS", "NEU"])
    assert not same_dataset("rolled-metal 3-class (NOT NEU-CLS)", ["NEU-CLS"]) and not same_dataset(
        "per seed Table 5", ["NEU-CLS"]
    )


def test_few_label_rows_and_reported_points(metrics_set: Path):
    curve = {
        "info": {"test_images": 360, "classes": 6},
        "baseline": {"1": {"mean": 0.745, "std": 0.11, "repeats": 5}, "5": {"mean": 0.95, "std": 0.01, "repeats": 5}},
        "self_training": {"1": {"mean": 0.95, "std": 0.045, "repeats": 5}, "5": {"mean": 0.979, "std": 0.004, "repeats": 5}},
    }
    (metrics_set / "metrics/learning_curve.json").write_text(json.dumps(curve))
    with open(metrics_set / "data/literature.csv", "a") as f:
        f.write("Transductive,NEU,97.13,1 labelled sample per class,,,,,Wang 2022,,,episode protocol not read\n")
    compare.main()
    same, other = tables(Path("metrics/compare.md").read_text())
    assert "few labels, best at N=1: class-balanced self-training" in same and "95.00 ± 4.50 (5 draws)" in same
    assert "| 6 labelled |" in same and "| 30 labelled |" in same, "N per class x the number of classes"
    assert "N=10" not in same, "no row for an N the curve did not run"
    literature = pd.read_csv(metrics_set / "data/literature.csv", dtype=str, keep_default_na=False)
    [(n, accuracy, label)] = reported_few_label_points(literature, ["NEU-CLS", "NEU"])
    assert (n, accuracy) == (1, 97.13) and "episode protocol not read" in label


def test_the_headline_gives_the_worst_fault_without_and_with_the_line_camera():
    run = {"clean_errors": 0, "test_images": 360}
    mean = lambda m: {"mean": m}  # noqa: E731
    stratified = {"seeds": [0], "runs": [run], "worst_moderate_accuracy": mean(0.96)}
    evaluate = {"accuracy": 1.0}
    older = headline(evaluate, None, {"strategies": {"stratified": stratified}}, None, 0, "stratified")
    assert "| Same seeds, the worst moderate camera fault each seed meets" in older and "| **96.00%** |" in older
    line = {**stratified, "first_families_worst_moderate_accuracy": mean(0.99)}
    text = headline(evaluate, None, {"strategies": {"stratified": line}}, None, 0, "stratified")
    assert "| **99.00%** without the line camera's stripes and dead columns, **96.00%** with them |" in text
