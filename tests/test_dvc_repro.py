"""Real `dvc repro` on the tiny copy of this project (tests/dvc_project.py) with a user's kind of dataset: every
stage's output, training stages killed part-way, a fresh clone pulling from a remote."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import keras
import numpy as np
import psutil
import pytest
from PIL import Image

from steel_defect import cli
from tests.conftest import TINY, USER_CLASSES, USER_ODD, set_param
from tests.dvc_project import ENV, run


def stage_processes(dvc_pid: int) -> list[psutil.Process]:
    """The Python process running `python -m stages.train_head` under this `dvc repro`.

    DVC starts a stage with `$SHELL -c CMD`; where SHELL is unset (CI) that is `/bin/sh -c`, and
    Debian's dash stays as the parent. The signal must reach Python itself: killing only the shell
    would leave Python training on as an orphan that writes its model after DVC has given up.
    """
    return [p for p in psutil.Process(dvc_pid).children(recursive=True) if "stages.train_head" in p.cmdline()]


def leftovers(repo: Path) -> list[Path]:
    return [p for folder in ("data", "models", "metrics", "plots") for p in (repo / folder).rglob(".*.tmp-*")]


@pytest.fixture(scope="module")
def repo(reproduced: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the reproduced tiny project for this module's tests, which change it (kills, a remote)."""
    repo = tmp_path_factory.mktemp("dvc-project") / "project"
    shutil.copytree(reproduced, repo, symlinks=True)
    return repo


def test_the_users_dataset_went_through_every_stage(repo: Path):
    read = lambda path: json.loads((repo / path).read_text())  # noqa: E731
    names = sorted(USER_CLASSES)
    spec = read("data/dataset.json")
    assert spec["classes"] == names and spec["channels"] == 3 and spec["size"] == [32, 32]
    assert spec["resized"] == [USER_ODD]
    assert read("metrics/data.json")["classes"] == {n: USER_CLASSES[n][0] for n in names}
    deployed = read("models/deployed/model.json")
    assert deployed["classes"] == names and deployed["channels"] == 3
    model = keras.models.load_model(repo / "models/deployed/model.keras")
    assert model.input.shape[-1] == 3, "the saved model records colour input"
    odd = np.asarray(Image.open(repo / "mill photos" / USER_ODD), dtype="float32")[None]
    assert model.predict(odd, verbose=0).shape == (1, 3), "the model takes any image size"
    assert set(names) <= set(read("metrics/evaluate/per_class.json"))
    table = (repo / "metrics/compare.md").read_text()
    assert "| measured (this project) | deployed (chosen on validation)" in table, "our run is in the table (n=1: no seeds run)"
    assert "few labels, best at N=1" in table, "the learning curve's rows join the compare table"
    assert "exported to LiteRT int8" in table, "the exported models' rows join it too"
    assert ", worst moderate perturbation (" in table, "and the worst-case robust accuracy"
    speed = read("metrics/benchmark.json")
    assert set(speed) == {"machine", "keras", "float32", "int8"}, "every exported kind is timed"
    assert all(speed[m]["ms_batch1_median"] > 0 and speed[m]["runs"] == 5 for m in ("keras", "int8"))
    assert "| reported: NASNet-Mobile fine-tuned (seed)" in (repo / "metrics/benchmark.md").read_text(), "the paper beside ours"
    robust = read("metrics/robustness.json")
    assert set(robust) == {"test_images", "seed", "deployed", "families", "float32"}, "colour, every perturbation"
    headline = (repo / "metrics/headline.md").read_text()
    assert "| Same model, camera faults at moderate strength" in headline and "held out of training (row jitter)" in headline
    for png in ("confusion_matrix", "roc", "augmentation", "compare", "learning_curve", "robustness", "robustness_examples"):
        assert (repo / "plots" / f"{png}.png").stat().st_size > 5000, png


def kill_train_head_part_way(repo: Path, sig: signal.Signals) -> str:
    """Start `dvc repro` with a long train_head, send `sig` to the stage at epoch 3; DVC's output after it."""
    dvc = subprocess.Popen(["dvc", "repro"], cwd=repo, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, deadline = [], time.time() + 300
    for line in dvc.stdout:
        output.append(line)
        if line.startswith("Epoch 3/500") or time.time() > deadline:
            break
    stage = stage_processes(dvc.pid)
    assert len(stage) == 1, "train_head was not running:\n" + "".join(output[-30:])
    stage[0].send_signal(sig)
    rest, _ = dvc.communicate(timeout=120)
    assert dvc.returncode != 0
    assert not stage[0].is_running(), "the stage itself stopped (not only the shell DVC started it with)"
    return rest


def test_training_stage_killed_part_way_leaves_no_partial_output_and_repro_completes(repo: Path):
    """SIGTERM (Ctrl-C's cousin: the stage cleans up), then SIGKILL (no cleanup: the next run does it), then a full run."""
    head = repo / "models/head.keras"
    head_before = head.read_bytes()
    set_param(repo, "train.epochs", 500)
    set_param(repo, "train.patience", 500)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        rest = kill_train_head_part_way(repo, sig)
        assert not head.exists() or head.read_bytes() == head_before, f"{sig.name}: never a half-written model"
        if sig == signal.SIGTERM:
            assert "interrupted: no output was written" in rest
            assert not leftovers(repo), "SIGTERM runs the cleanup"
    set_param(repo, "train.epochs", TINY["train"]["epochs"])
    set_param(repo, "train.patience", TINY["train"]["patience"])
    run(["dvc", "repro"], repo)
    assert "up to date" in run(["dvc", "status"], repo).stdout
    assert not leftovers(repo), "the next run removes what a SIGKILL left"
    assert head.read_bytes() == head_before, "the rerun reproduces the same model, byte for byte"


def test_a_fresh_clone_pulls_data_and_models_from_a_remote_and_has_nothing_to_rerun(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    """The user's own storage as a DVC remote (here a local folder): push once, then any clone pulls instead of retraining."""
    run(["dvc", "remote", "add", "-d", "-f", "store", str(tmp_path / "remote")], repo)
    run(["dvc", "push"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "results and remote"], repo)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    assert not (clone / "models" / "deployed").exists(), "git alone does not carry the models"
    run(["dvc", "pull"], clone)
    assert "up to date" in run(["dvc", "status"], clone).stdout
    assert "Running stage" not in run(["dvc", "repro"], clone).stdout, "nothing to rerun after a pull"
    photos = sorted((clone / "mill photos" / "scratch").iterdir())[:3]
    monkeypatch.chdir(clone)  # predict's default model is the clone's pulled models/deployed/model.keras
    assert cli.main(["predict", *map(str, photos), "--out", "p.csv", "--quiet"]) == 0
    assert "3 images classified, 0 failed" in capsys.readouterr().out
