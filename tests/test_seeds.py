"""Seed aggregation: the numbers on known inputs, and which DVC experiments count as the same pipeline."""

from __future__ import annotations

import copy
import math
import zlib
from pathlib import Path

import pytest
import yaml

from steel_defect.seeds import Upstream, aggregate, interval, runs_from_exp_show, single_run, upstream

ROOT = Path(__file__).resolve().parent.parent

T_975_4 = 2.7764451051977987  # Student t, 97.5% quantile, 4 degrees of freedom


def test_interval_on_known_numbers():
    result = interval([0.99, 1.0, 1.0, 0.98, 1.0])
    assert result["n"] == 5
    assert result["mean"] == pytest.approx(0.994)
    assert result["std"] == pytest.approx(math.sqrt(80e-6))  # squared deviations sum to 320e-6, over n-1 = 4
    half = T_975_4 * math.sqrt(80e-6) / math.sqrt(5)
    assert result["ci95"] == pytest.approx([0.994 - half, 0.994 + half])


def test_one_value_has_no_spread_and_none_is_an_error():
    assert interval([1.0]) == {"n": 1, "mean": 1.0, "std": None, "ci95": None}
    with pytest.raises(ValueError):
        interval([])


PARAMS = {
    "data": {"source": "../shared/data/NEU-CLS"},
    "split": {"strategy": "stratified", "seed": 0, "val_fraction": 0.2},
    "train": {"epochs": 60},
}
CODE = {"stages/fetch.py": "aaa", "steel_defect/model.py": "bbb", "data/raw": "ignored: not code"}
UP = Upstream(code=frozenset({"stages/fetch.py", "steel_defect/model.py"}), params=frozenset({"data", "split", "train"}))


def entry(name: str, seed: int, strategy: str = "stratified", errors: int = 0, **changes) -> dict:
    """One result the way `dvc exp show --json` prints it."""
    params = copy.deepcopy(PARAMS)
    params["split"].update(seed=seed, strategy=strategy)
    for key, value in changes.get("params", {}).items():
        section, leaf = key.split(".")
        params[section][leaf] = value
    deps = {path: {"hash": changes.get("code", {}).get(path, h)} for path, h in CODE.items()}
    return {
        "rev": name,
        "name": name,
        "data": {
            "rev": name,
            "params": {"params.yaml": {"data": params}},
            "deps": deps,
            "outs": {"data/raw": {"hash": changes.get("data", "raw.dir")}},
            "metrics": {
                "metrics/evaluate/metrics.json": {
                    "data": {
                        "accuracy": 1 - errors / 360,
                        "errors": errors,
                        "test_images": 360,
                        "fine_tuned_accuracy": 1 - errors / 360,
                        "head_accuracy": 0.995,
                        "baseline_accuracy": 0.99,
                        "f1_macro": 1.0,
                        "loss": 0.001 + zlib.crc32(name.encode()) % 1000 * 1e-7,  # each run its own, as real ones
                        "backbone": "mobilenet_v2",
                        "weights": "imagenet (torchvision)",
                        "input": "grayscale",
                    }
                },
                "metrics/split.json": {"data": {"train": {"total": 1152}}},
                "metrics/data.json": {"data": {"images": 1800}},
            },
        },
    }


def with_robustness(run: dict, clean_errors: int, moderate: dict[str, tuple[float, float]], **worst) -> dict:
    """`run` with the metrics/robustness.json its robustness stage writes; `moderate` maps name -> (value, accuracy)."""
    rows = {name: {"value": value, "accuracy": accuracy} for name, (value, accuracy) in moderate.items()}
    lowest = min(rows, key=lambda k: rows[k]["accuracy"])
    keras = {
        "clean_accuracy": 1 - clean_errors / 360,
        "worst_moderate_accuracy": rows[lowest]["accuracy"],
        "worst_moderate": f"{lowest} {rows[lowest]['value']:g}",
        **worst,
        "moderate": rows,
    }
    run["data"]["metrics"]["metrics/robustness.json"] = {"data": {"test_images": 360, "keras": keras}}
    return run


def show(*experiments: dict) -> list[dict]:
    workspace = entry("workspace", 0)
    listed = [{"name": e["name"], "revs": [e], "executor": {"state": e.pop("state", "success")}} for e in experiments]
    return [workspace, {**entry("main", 0), "experiments": listed}]


def test_only_the_same_pipeline_counts_and_a_repeated_seed_counts_once():
    runs = runs_from_exp_show(
        show(
            entry("s1", 1, errors=1, params={"data.source": "/abs/path/NEU-CLS"}),  # queued run: absolute source, same data
            entry("s2", 2),
            entry("g0", 0, "grouped", errors=2),
            entry("g1", 1, "grouped"),
            entry("other-epochs", 3, params={"train.epochs": 5}),
            entry("other-code", 3, code={"steel_defect/model.py": "changed"}),
            entry("other-data", 3, data="another.dir"),
            {**entry("running", 4), "state": "running"},  # shows the baseline's metrics files until it finishes
            {**entry("failed", 4), "state": "failed"},
        )
    )
    reference = next(r for r in runs if r.rev == "workspace")
    table = aggregate(runs, reference, UP)
    stratified, grouped = table["strategies"]["stratified"], table["strategies"]["grouped"]
    assert stratified["seeds"] == [0, 1, 2], "seed 0 (workspace, main) counted once; seed 3 runs differ; seed 4 never finished"
    assert stratified["total_errors"] == 1 and stratified["test_predictions"] == 3 * 360
    assert stratified["accuracy"]["n"] == 3 and stratified["accuracy"]["mean"] == pytest.approx(1 - 1 / 1080)
    assert grouped["seeds"] == [0, 1] and grouped["total_errors"] == 2
    assert stratified["train_images"] == 1152
    assert table["identity"]["backbone"] == "mobilenet_v2" and table["dataset"] == {"images": 1800}


def test_a_change_after_evaluate_does_not_disqualify_older_runs():
    newer = entry("workspace", 0)
    newer["data"]["deps"]["steel_defect/compare.py"] = {"hash": "new"}
    newer["data"]["params"]["params.yaml"]["data"]["compare"] = {"datasets": ["NEU-CLS"]}
    older = entry("s1", 1)
    older["data"]["deps"]["steel_defect/compare.py"] = {"hash": "old"}
    runs = runs_from_exp_show([newer, {**entry("main", 0), "experiments": [{"name": "s1", "revs": [older]}]}])
    table = aggregate(runs, runs[0], UP)
    assert table["strategies"]["stratified"]["seeds"] == [0, 1]


def test_upstream_of_evaluate_in_this_pipeline():
    up = upstream(yaml.safe_load((ROOT / "dvc.yaml").read_text()))
    assert {"stages/fetch.py", "stages/fine_tune.py", "stages/evaluate.py", "steel_defect/training.py"} <= up.code
    assert "stages/compare.py" not in up.code and "steel_defect/compare.py" not in up.code
    assert {"data", "split", "optimizer", "train", "select.candidates"} <= up.params
    assert not any(p.startswith("compare") for p in up.params)


def test_files_an_experiment_inherited_from_its_baseline_are_not_its_results():
    """`dvc exp run robustness -S train.epochs=5` skips evaluate: its evaluate file is the baseline's."""
    main = entry("main", 0)
    stale = entry("epochs5", 0, errors=0, params={"train.epochs": 5})
    stale["data"]["metrics"]["metrics/evaluate/metrics.json"] = copy.deepcopy(
        main["data"]["metrics"]["metrics/evaluate/metrics.json"]
    )
    stale["data"]["metrics"]["metrics/robustness.json"] = {"data": {"worst": 0.98}}
    rerun = entry("same-params", 0)  # equal params: a rerun that reproduced the file is kept
    rerun["data"]["metrics"]["metrics/evaluate/metrics.json"] = copy.deepcopy(
        main["data"]["metrics"]["metrics/evaluate/metrics.json"]
    )
    runs = runs_from_exp_show(
        [
            entry("workspace", 0),
            {**main, "experiments": [{"name": n, "revs": [e]} for n, e in (("epochs5", stale), ("same-params", rerun))]},
        ]
    )
    epochs5, same = (next(r for r in runs if r.name == n) for n in ("epochs5", "same-params"))
    assert epochs5.metrics is None and epochs5.files["metrics/robustness.json"] == {"worst": 0.98}
    assert same.metrics == runs[1].metrics


def test_same_seed_with_different_results_is_a_reproducibility_failure():
    runs = runs_from_exp_show(show(entry("again", 0, errors=3)))
    with pytest.raises(ValueError, match="same pipeline on stratified seed 0 but made"):
        aggregate(runs, runs[0], UP)


def test_single_run_has_the_aggregate_shape():
    metrics = entry("w", 0, errors=1)["data"]["metrics"]["metrics/evaluate/metrics.json"]["data"]
    one = single_run(metrics, "grouped", 7, 1150)["strategies"]["grouped"]
    assert one["seeds"] == [7] and one["total_errors"] == 1 and one["accuracy"]["n"] == 1 and one["train_images"] == 1150


def test_runs_match_on_the_reference_pipeline_and_carry_their_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A module added to a stage's deps today must not shut out the runs of the commit before it."""
    import subprocess

    from steel_defect.errors import UserError
    from steel_defect.seeds import Run
    from tools.seeds import pipeline_of, recorded_runs, with_machine

    monkeypatch.chdir(tmp_path)

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    Path("dvc.yaml").write_text("stages: {train: {cmd: python -m stages.train, deps: [steel_defect/training.py]}}\n")
    git("add", "dvc.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    then = git("rev-parse", "HEAD")
    Path("dvc.yaml").write_text("stages: {train: {cmd: python -m stages.train, deps: [steel_defect/machine.py]}}\n")

    def run(rev: str) -> Run:
        return Run(name=rev[:7], rev=rev, params={}, code={}, data=None, files={})

    assert "training.py" in pipeline_of(run(then)) and "machine.py" not in pipeline_of(run(then))
    assert "machine.py" in pipeline_of(run("workspace"))
    with pytest.raises(UserError, match="cannot read dvc.yaml at"):
        pipeline_of(run("0" * 40))

    # a commit's machine record, where `dvc exp show` cannot see it (its dvc.yaml does not list it)
    Path("metrics/fine_tune").mkdir(parents=True)
    Path("metrics/fine_tune/params.yaml").write_text("machine: {cpu: AMD EPYC, isa: avx2}\n")
    git("add", "metrics")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "second")
    assert with_machine(run(git("rev-parse", "HEAD"))).machine == {"cpu": "AMD EPYC", "isa": "avx2"}
    assert with_machine(run(then)).machine is None and with_machine(run("workspace")).machine is None

    # only a summariser that compares machines asks git for them (one `git show` per run)
    second = git("rev-parse", "HEAD")
    monkeypatch.setattr("tools.seeds.dvc_json", lambda *args: [entry(second, 0)])
    runs, reference = recorded_runs(second[:7], machines=True)
    assert reference.machine == {"cpu": "AMD EPYC", "isa": "avx2"}
    runs, reference = recorded_runs(second[:7])
    assert reference.rev == second and reference.machine is None


def test_a_run_carries_the_machine_fine_tune_recorded():
    """dvc.yaml lists metrics/fine_tune/params.yaml under its top-level params, so `dvc exp show` carries it."""
    from steel_defect.seeds import MACHINE

    recorded = entry("here", 1)
    recorded["data"]["params"][MACHINE] = {"data": {"machine": {"cpu": "AMD EPYC", "isa": "avx2"}}}
    runs = runs_from_exp_show(
        [entry("workspace", 0), {**entry("main", 0), "experiments": [{"name": "here", "revs": [recorded]}]}]
    )
    assert [(r.name, r.machine) for r in runs] == [
        ("workspace", None),
        ("main", None),
        ("here", {"cpu": "AMD EPYC", "isa": "avx2"}),
    ]
    assert MACHINE in yaml.safe_load((ROOT / "dvc.yaml").read_text())["params"]
