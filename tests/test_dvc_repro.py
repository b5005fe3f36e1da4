"""Real `dvc repro` on a tiny copy of this project with a user's kind of dataset: identical reruns,
only declared params read, training stages killed part-way, a fresh clone pulling from a remote.

The copy uses this repository's own dvc.yaml, stages/ and steel_defect/, a tiny synthetic dataset
with a user's traits (colour, spaces and accents in names, mixed formats and sizes, unequal classes)
and the tiny model params, so it exercises the same wiring a user's `dvc repro` does.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import psutil
import pytest
import yaml
from PIL import Image

from steel_defect import cli
from steel_defect import params as params_module
from tests.conftest import PARAMS, TINY, USER_CLASSES, USER_ODD, set_param, use_tiny_mobilenet, use_user_dataset
from tests.test_dvc_wiring import STAGES, check_params_read

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    **os.environ,
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    "DVC_NO_ANALYTICS": "1",
    "PYTHONUNBUFFERED": "1",  # so the test sees each epoch line as it is printed
    **{
        f"GIT_{who}_{what}": value
        for who in ("AUTHOR", "COMMITTER")
        for what, value in (("NAME", "test"), ("EMAIL", "t@example.org"))
    },
}


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)
    assert not check or result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def locked_hashes(repo: Path) -> dict[str, str]:
    """Output path -> md5 for every output in dvc.lock (files, folders, metrics, plots)."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


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
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git + DVC project with the real pipeline, tiny params and a user's dataset, reproduced once."""
    repo = tmp_path_factory.mktemp("dvc-project")
    for folder in ("stages", "steel_defect", "data/NEU-CLS"):  # code, and NEU-CLS's listing (a dependency of fetch)
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    use_tiny_mobilenet(repo / "steel_defect")
    shutil.copyfile(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copyfile(ROOT / "params.yaml", repo / "params.yaml")
    # inputs of compare, committed as in a clone
    for committed in ("data/literature.csv", "metrics/seeds.json", "metrics/robust_seeds.json"):
        (repo / committed).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / committed, repo / committed)
    for key, value in {**PARAMS, **TINY}.items():
        set_param(repo, key, value)
    # every export kind, Keras in robustness, the curve's repeats and fine-tuned points: stage tests of their own;
    # here the default's LiteRT float32 and int8 (compare's int8 row)
    set_param(repo, "export.kinds", ["float32", "int8"])
    set_param(repo, "robustness.models", ["float32"])
    set_param(repo, "curve.quick", {**TINY["curve"]["quick"], "repeats": 1, "finetune_at": [], "pseudo_finetune_at": []})
    use_user_dataset(repo)
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    run(["dvc", "config", "core.analytics", "false"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny project"], repo)  # dvclive reads the baseline commit, as in any clone
    run(["dvc", "repro"], repo)
    return repo


# Timings differ from run to run by nature: the benchmark's files and compare's, which show them.
TIMED = {"metrics/benchmark.json", "metrics/benchmark.md", "metrics/compare.md", "plots/compare.png", "metrics/headline.md"}


def test_a_rerun_in_one_process_writes_identical_outputs_and_reads_only_declared_params(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Every stage's main(), run again one after another in this one process on a copy of the project,
    rewrites each output byte for byte as DVC's fresh processes wrote it (each stage seeds all it draws),
    and reads exactly the params dvc.yaml lists for it. Each stage starts with a fresh Keras session, as
    each of DVC's processes does: Keras numbers the names of layers and optimizers per session, and the
    saved models carry those names (other tests in this worker process have built models before)."""
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy, symlinks=True)
    monkeypatch.chdir(copy)
    for name in STAGES:
        params_module.READ.clear()
        keras.utils.clear_session()
        importlib.import_module(f"stages.{name}").main()
        check_params_read(name, set(params_module.READ))

    def changed() -> set[str]:
        status = json.loads(run(["dvc", "status", "--json"], copy).stdout)
        return {path for entries in status.values() for e in entries if isinstance(e, dict) for path in e.get("changed outs", {})}

    assert TIMED <= set(locked_hashes(repo)), "the timed outputs are still outputs"
    assert changed() <= TIMED, f"a rerun changed {sorted(changed() - TIMED)}"
    with open("data/split.csv", "a") as f:
        f.write("\n")
    assert "data/split.csv" in changed(), "dvc status sees a one-byte change"
    outputs = sum(len(stage.get(kind, [])) for stage in STAGES.values() for kind in ("outs", "metrics", "plots"))
    assert len(locked_hashes(repo)) == outputs, "dvc status compares every output"


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
